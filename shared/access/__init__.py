"""shared.access"""
