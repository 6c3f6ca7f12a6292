"""collector.sources.stac.source"""
