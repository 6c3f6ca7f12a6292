"""shared.checks"""
