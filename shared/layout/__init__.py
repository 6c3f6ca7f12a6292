"""The versioned store contract: bands, grid, georeferencing, CF attributes, the spec and its
arrays (what a store of each layout version holds and how it is encoded)."""
