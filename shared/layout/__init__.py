"""shared.layout.spec"""
