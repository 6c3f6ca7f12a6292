"""shared.publish"""
