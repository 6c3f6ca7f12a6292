"""Tests of the collector package."""
