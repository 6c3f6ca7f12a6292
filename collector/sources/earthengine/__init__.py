"""collector.sources.earthengine.source"""
