import numpy as np
import pytest
from pyproj import Geod

from shared.layout.grid import PatchGrid, footprints, snap_grids, utm_epsg


@pytest.mark.parametrize(
    "lon,lat,epsg",
    [
        (2.35, 48.85, 32631),
        (151.2, -33.87, 32756),
        (-74.0, 40.7, 32618),
        (179.9, 1.0, 32660),
        (-180.0, -1.0, 32701),
        (0.0, 0.0, 32631),
    ],
)
def test_utm_epsg(lon, lat, epsg):
    assert utm_epsg(lon, lat) == epsg


def test_utm_epsg_rejects_bad_latitude():
    with pytest.raises(ValueError, match="latitude"):
        utm_epsg(0.0, 91.0)


def test_grid_corner_is_on_the_60m_lattice_and_centred():
    lon = np.array([2.3512, -58.3816, 139.6917, 18.0686])
    lat = np.array([48.8566, -34.6037, 35.6895, 59.3293])
    epsg, tr = snap_grids(lon, lat, size=264)
    assert np.all(tr[:, 0] == 10) and np.all(tr[:, 4] == -10)
    assert np.all(tr[:, 1] == 0) and np.all(tr[:, 3] == 0)
    # Sentinel-2 tile origins are multiples of 60 m: every 20/60 m pixel is one sensor pixel
    assert np.all(tr[:, 2] % 60 == 0) and np.all(tr[:, 5] % 60 == 0)
    for i in range(lon.size):
        g = PatchGrid(int(epsg[i]), tuple(tr[i]), 264)
        clon, clat = g.center()
        dist = Geod(ellps="WGS84").inv(clon, clat, lon[i], lat[i])[2]
        assert dist <= 60 * np.sqrt(2) / 2 + 1e-6  # snapping moves the centre by < half 60 m


def test_odd_size_corner_on_lattice():
    g = PatchGrid.from_center(10.0, 45.0, size=33)
    minx, miny, maxx, maxy = g.bounds
    assert minx % 10 == 0 and maxy % 10 == 0 and maxx - minx == 330 and maxy - miny == 330


def test_footprint_area_and_containment():
    g = PatchGrid.from_center(-3.7038, 40.4168, size=264)
    poly = g.footprint()
    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(poly)
    # UTM scale factor is within 0.1 % of 1 this near a central meridian
    assert abs(abs(area) - 2640.0**2) / 2640.0**2 < 2e-3
    assert poly.contains(__import__("shapely").Point(-3.7038, 40.4168))


def test_footprint_is_continuous_across_the_antimeridian():
    epsg, tr = snap_grids(np.array([179.999]), np.array([-16.5]), size=264)
    poly = footprints(epsg, tr, 264)[0]
    minx, _, maxx, _ = poly.bounds
    assert maxx - minx < 0.1 and maxx > 180  # continuous, not spanning the globe
