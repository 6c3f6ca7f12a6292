import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from collector.plan.regions import RegionError, parse_region

PARIS, TOKYO, NAIROBI, WINDHOEK = (2.35, 48.86), (139.69, 35.69), (36.82, -1.29), (17.08, -22.56)


def inside(region, *points):
    lon, lat = np.array(points, float).T
    return region.contains(lon, lat).tolist()


def test_world():
    assert inside(parse_region("world"), PARIS, TOKYO) == [True, True]


@pytest.mark.parametrize("text", ["europe", "EU", "Europe", "continent:eu"])
def test_continent(text):
    assert inside(parse_region(text), PARIS, TOKYO, NAIROBI) == [True, False, False]


def test_countries_alpha2_alpha3_and_union():
    assert inside(parse_region("FR,DE"), PARIS, (13.40, 52.52), (4.35, 50.85)) == [
        True,
        True,
        False,
    ]
    assert inside(parse_region("KEN"), NAIROBI, PARIS) == [True, False]
    assert inside(parse_region("asia,KE"), TOKYO, NAIROBI, PARIS) == [True, True, False]


def test_continent_codes_win_over_countries_sharing_them():
    assert parse_region("NA").describe() == "North America"
    assert inside(parse_region("country:NA"), WINDHOEK) == [True]
    assert inside(parse_region("NAM"), WINDHOEK, PARIS) == [True, False]


def test_country_border_by_nearest_place():
    # Strasbourg (FR) and Kehl (DE) face each other across the Rhine
    region = parse_region("FR")
    assert inside(region, (7.745, 48.583), (7.815, 48.573)) == [True, False]
    # open ocean is in no country
    assert inside(region, (-30.0, 45.0)) == [False]


def test_bbox_and_antimeridian():
    assert inside(parse_region("0,40,10,50"), PARIS, TOKYO) == [True, False]
    crossing = parse_region("170,-20,-170,-10")
    assert inside(crossing, (178.4, -18.1), (-175.2, -15.0), (0.0, -15.0)) == [True, True, False]
    assert "antimeridian" in crossing.describe()


@pytest.mark.parametrize(
    "suffix,driver", [(".geojson", "GeoJSON"), (".gpkg", "GPKG"), (".shp", None)]
)
def test_vector_files(tmp_path, suffix, driver):
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[box(0, 40, 10, 50)], crs="EPSG:4326")
    path = tmp_path / f"region{suffix}"
    frame.to_file(path, driver=driver) if driver else frame.to_file(path)
    assert inside(parse_region(str(path)), PARIS, TOKYO) == [True, False]


def test_vector_file_in_projected_crs(tmp_path):
    frame = gpd.GeoDataFrame(geometry=[box(0, 40, 10, 50)], crs="EPSG:4326").to_crs("EPSG:3857")
    path = tmp_path / "mercator.geojson"
    frame.to_file(path)
    assert inside(parse_region(str(path)), PARIS, TOKYO) == [True, False]


def make_file(tmp_path, kind):
    path = tmp_path / f"{kind}.geojson"
    if kind == "empty_bytes":
        path.write_bytes(b"")
    elif kind == "no_features":
        path.write_text('{"type": "FeatureCollection", "features": []}')
    elif kind == "points":
        gpd.GeoDataFrame(geometry=[Point(1, 2)], crs="EPSG:4326").to_file(path)
    return path


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "empty"),
        ("XX", "not a continent"),
        ("FR,,DE", "empty item"),
        ("10,60,20,50", "minlat 60 must be below maxlat 50"),
        ("0,95,10,99", "outside [-90, 90]"),
        ("200,0,210,10", "outside [-180, 180]"),
        ("10,40,0,50", "swap them"),
        ("1,2,3", "exactly 4 numbers"),
        ("5,40,5,50", "no width"),
        ("continent:FR", "not a continent"),
        ("missing/region.geojson", "does not exist"),
    ],
)
def test_malformed_regions(text, message):
    with pytest.raises(RegionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_region(text)


@pytest.mark.parametrize(
    "kind,message",
    [("empty_bytes", "cannot be read"), ("no_features", "no features"), ("points", "no polygons")],
)
def test_malformed_files(tmp_path, kind, message):
    with pytest.raises(RegionError, match=message):
        parse_region(str(make_file(tmp_path, kind)))
