"""Reading a store as a researcher does: the xarray view, single samples, the torch Dataset,
GeoTIFF export, band statistics."""
