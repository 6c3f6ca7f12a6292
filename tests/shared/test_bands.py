import pytest

from shared.layout.bands import L1C_BANDS, L2A_BANDS, RGB, band_names, bands_for, resolve_bands


def test_tables_have_the_sentinel2_bands():
    assert len(L1C_BANDS) == 13 and len(L2A_BANDS) == 12
    assert "B10" in band_names("L1C") and "B10" not in band_names("l2a")
    by_name = {b.name: b for b in L1C_BANDS}
    assert {n for n, b in by_name.items() if b.resolution_m == 10} == {"B2", "B3", "B4", "B8"}
    assert {n for n, b in by_name.items() if b.resolution_m == 60} == {"B1", "B9", "B10"}
    wavelengths = [b.wavelength_nm for b in L1C_BANDS]
    assert wavelengths == sorted(wavelengths)  # store order is spectral order
    assert RGB == ("B4", "B3", "B2")


def test_resolve_bands_forms():
    names = band_names("L2A")
    assert resolve_bands("rgb", names) == ("B4", "B3", "B2")
    assert resolve_bands("all", names) == names
    assert resolve_bands("b8, B4", names) == ("B8", "B4")


@pytest.mark.parametrize("spec,msg", [("B10", "unknown band"), ("", "empty"), ("B4,B4", "repeats")])
def test_resolve_bands_errors(spec, msg):
    with pytest.raises(ValueError, match=msg):
        resolve_bands(spec, band_names("L2A"))


def test_unknown_collection():
    with pytest.raises(ValueError, match="L1C, L2A"):
        bands_for("L3")
