"""Tests of the Sentinel-2 sources."""
