"""Sentinel-2 sources behind one protocol (see ``base``)."""
