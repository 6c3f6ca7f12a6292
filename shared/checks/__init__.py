"""Checking and upgrading stores: verify (objects against manifests, values, layout) and
upgrade between layout versions."""
