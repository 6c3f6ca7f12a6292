"""collector.run"""
