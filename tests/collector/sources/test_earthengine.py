"""The Earth Engine source, offline: real request building, ``ee`` answered at its boundary."""

from __future__ import annotations

import json

import numpy as np
import pytest

from collector.choose import ChoiceRules
from collector.fill import collect_location
from collector.retry import RetryPolicy
from collector.sources import earthengine as eem
from collector.sources.base import Location, PermanentError, Scene, TransientError
from collector.sources.earthengine import EarthEngineSource, classify_error, decode_pixels
from collector.testing import CannedEarthEngineApi as FakeApi
from collector.testing import constants, expression_json, functions, init_ee_offline
from shared.grid import PatchGrid

NICE = PatchGrid.from_center(7.26, 43.70, 264)  # Nice, France: UTM 32N


def nice_location(seasons: int = 2) -> Location:
    first = np.datetime64("2021-06", "M")
    windows = tuple(
        ((first + 3 * s).astype("datetime64[D]"), (first + 3 * s + 1).astype("datetime64[D]"))
        for s in range(seasons)
    )
    return Location(7, 7.26, 43.70, NICE.epsg, NICE.transform, 264, windows)


@pytest.fixture
def offline_ee(monkeypatch):
    import ee

    for name in ("_install_cloud_api_resource", "getAlgorithms"):
        monkeypatch.setattr(ee.data, name, getattr(ee.data, name))
    init_ee_offline()
    FakeApi.calls, FakeApi.fail = [], []
    monkeypatch.setattr(eem, "EarthEngineApi", FakeApi)
    monkeypatch.setenv("EE_PROJECT", "test-project")
    monkeypatch.setattr(eem, "find_credentials", lambda: (None, "test"))
    yield
    ee.Reset()


def test_search_request_for_a_known_location(offline_ee):
    src = EarthEngineSource("L1C", granule_cloud_max=20.0)
    graph = expression_json(src.search_expression(nice_location()))
    values = constants(graph)
    assert "COPERNICUS/S2_HARMONIZED" in values
    assert "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED" in values and "cs_cdf" in values
    assert "CLOUDY_PIXEL_PERCENTAGE" in values and 20.0 in values
    # windows as [start, end) milliseconds: 2021-06-01..07-01 and 2021-09-01..10-01
    for day in ("2021-06-01", "2021-07-01", "2021-09-01", "2021-10-01"):
        assert int(np.datetime64(day, "ms").astype(np.int64)) in values
    assert "EPSG:32632" in values
    assert list(NICE.bounds) in values  # the exact UTM rectangle of the patch
    assert {"Image.reduceRegion", "Reducer.mean", "Image.linkCollection"} <= set(functions(graph))
    assert 0.6 in values and 20 in values  # cs_cdf threshold, 20 m measuring scale


def test_l2a_uses_the_surface_reflectance_collection(offline_ee):
    src = EarthEngineSource("L2A")
    assert "COPERNICUS/S2_SR_HARMONIZED" in constants(
        expression_json(src.search_expression(nice_location()))
    )
    assert "B10" not in src.bands and len(src.bands) == 12


def test_pixels_request_grid_bands_and_resampling(offline_ee):
    src = EarthEngineSource("L1C", bands=("B2", "B3", "B4", "B8"))
    scenes = [
        Scene("A", np.datetime64("2021-06-02", "ms"), 0, 1.0),
        Scene("B", np.datetime64("2021-09-05", "ms"), 1, 2.0),
    ]
    req = src.pixels_request(nice_location(), scenes)
    assert req["fileFormat"] == "NUMPY_NDARRAY"
    a, b, c, d, e, f = NICE.transform
    assert req["grid"] == {
        "dimensions": {"width": 264, "height": 264},
        "affineTransform": {
            "scaleX": 10.0,
            "shearX": 0.0,
            "translateX": c,
            "shearY": 0.0,
            "scaleY": -10.0,
            "translateY": f,
        },
        "crsCode": "EPSG:32632",
    }
    graph = expression_json(req["expression"])
    values = constants(graph)
    assert "COPERNICUS/S2_HARMONIZED/A" in values and "COPERNICUS/S2_HARMONIZED/B" in values
    assert "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED/A" in values
    assert ["B2", "B3", "B4", "B8"] in values and "bilinear" in values
    flat = {x for v in values for x in (v if isinstance(v, list) else [v]) if isinstance(x, str)}
    assert {"s0_B2", "s0_B3", "s0_B4", "s0_B8", "s0_cloud", "s1_B8", "s1_cloud"} <= flat
    assert 255 in values  # cloud no-data


def test_canned_pixels_are_decoded_in_place_and_band_order(offline_ee):
    src = EarthEngineSource("L1C")
    loc = nice_location()
    found = src.search(loc)
    assert [len(w) for w in found] == [2, 2] and found[0][0].clear_fraction == pytest.approx(0.97)
    patch = src.fetch(loc, [found[0][1], found[1][0]])
    assert patch.pixels.shape == (2, 13, 264, 264) and patch.cloud.shape == (2, 264, 264)
    assert patch.pixels[1, src.bands.index("B4")].min() == 1000 + 100 * 1 + 3
    assert patch.pixels[0, src.bands.index("B12")].max() == 1000 + 12
    assert (patch.cloud == 5).all()
    assert [s.id for s in patch.scenes] == [found[0][1].id, found[1][0].id]


def test_decode_refuses_a_short_answer():
    data = np.zeros((4, 4), dtype=[("s0_B4", "<u2")])
    with pytest.raises(PermanentError, match="expected"):
        decode_pixels(data, 1, ("B4", "B3"), 4, [])


def test_two_requests_per_location_retries_counted_apart(offline_ee):
    src = EarthEngineSource("L1C")
    rules, policy = ChoiceRules(0.9, 20.0), RetryPolicy(4, 0.0, 0.0)
    res = collect_location(src, nice_location(4), rules, policy, sleep=lambda s: None)
    assert res.reason is None and res.clear.min() > 0.9
    assert [c[0] for c in FakeApi.calls] == ["computeValue", "computePixels"]
    assert res.counters.requests == 2 and res.counters.retries == 0
    # the best scene by patch clear fraction (0.99) was chosen in every window
    assert all("T113031" in s.id for s in res.patch.scenes)
    FakeApi.calls.clear()
    FakeApi.fail = [Exception("Too many concurrent aggregations.")]
    res = collect_location(src, nice_location(4), rules, policy, sleep=lambda s: None)
    assert res.reason is None and len(FakeApi.calls) == 3
    assert res.counters.requests == 3 and res.counters.retries == 1


@pytest.mark.parametrize(
    "message,kind",
    [
        ("Too many concurrent aggregations.", TransientError),
        (
            "Too Many Requests: Request was rejected because the request rate or concurrency limit was exceeded.",
            TransientError,
        ),
        (
            "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service 'earthengine.googleapis.com'",
            TransientError,
        ),
        ("Computation timed out.", TransientError),
        (
            '<HttpError 503 when requesting https://earthengine-highvolume.googleapis.com/v1/projects/p/image:computePixels returned "Service Unavailable">',
            TransientError,
        ),
        ("An internal error has occurred (request: 7f3a).", TransientError),
        ("User memory limit exceeded.", PermanentError),
        (
            "Total request size (52428800 bytes) must be less than or equal to 50331648 bytes.",
            PermanentError,
        ),
        (
            "Image.load: Image asset 'COPERNICUS/S2_HARMONIZED/XYZ' not found (does not exist or caller does not have access).",
            PermanentError,
        ),
        ("<HttpError 400 ... returned \"Invalid value for field 'grid'\">", PermanentError),
        ("Something nobody has seen before", PermanentError),
    ],
)
def test_error_classification(message, kind):
    import ee

    assert type(classify_error(ee.EEException(message))) is kind
    assert message in str(classify_error(ee.EEException(message)))


def test_network_errors_are_transient():
    assert isinstance(classify_error(ConnectionError("reset by peer")), TransientError)
    assert isinstance(classify_error(TimeoutError()), TransientError)


def test_source_pickles_without_its_session(offline_ee):
    import pickle

    src = EarthEngineSource("L1C")
    src.search(nice_location())
    clone = pickle.loads(pickle.dumps(src))
    assert clone._api is None and clone.project == "test-project"


def test_invalid_key_variable_is_not_echoed(monkeypatch):
    from collector.sources.earthengine_auth import EarthEngineAuthError, find_credentials

    secret = '{"type": "service_account", "private_key": "TOPSECRET'
    with pytest.raises(EarthEngineAuthError) as info:
        find_credentials({"EE_SERVICE_ACCOUNT_KEY": secret})
    assert "TOPSECRET" not in str(info.value) and "EE_SERVICE_ACCOUNT_KEY" in str(info.value)


def _service_account_key() -> dict:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "PLANTED0KEY0ID0d41d8cd98f00b204e9800998ecf8427e",
        "private_key": pem,
        "client_email": "collector@test-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def test_planted_key_never_written(tmp_path, monkeypatch, capsys):
    """A full Earth Engine collection with a real-looking key: no trace of it anywhere."""
    import ee

    from collector.cli import main

    for name in ("_install_cloud_api_resource", "getAlgorithms"):
        monkeypatch.setattr(ee.data, name, getattr(ee.data, name))
    key = _service_account_key()
    monkeypatch.setenv("EE_SERVICE_ACCOUNT_KEY", json.dumps(key))
    monkeypatch.setenv("EE_PROJECT", "test-project")
    monkeypatch.setattr(eem, "EarthEngineApi", FakeApi)
    FakeApi.calls, FakeApi.fail = [], []
    out = tmp_path / "ee.zarr"
    argv = [
        "collect",
        "--region=FR",
        "--n",
        "8",
        "--size",
        "16",
        "--shard-samples",
        "4",
        "--source",
        "earthengine",
        "--scheduler",
        "threads",
        "--workers",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    logs = capsys.readouterr()
    assert len(FakeApi.calls) == 2 * 8  # two requests per location, no rejections here
    store_bytes = b"".join(p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file())
    pem_body = key["private_key"].splitlines()[5].encode()
    for marker in (pem_body, b"PRIVATE KEY", key["private_key_id"].encode()):
        assert marker not in store_bytes
        assert marker.decode() not in logs.out + logs.err
    for name in ("plan.parquet", "index.parquet", "report.json"):
        assert (out / name).is_file()
    assert not json.loads((out / "zarr.json").read_text())["attributes"]["synthetic"]
    ee.Reset()


def test_dry_run_contacts_nothing_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from collector.cli import main

    monkeypatch.delenv("EE_SERVICE_ACCOUNT_KEY", raising=False)
    out = tmp_path / "never.zarr"
    code = main(
        [
            "collect",
            "--region=europe",
            "--n",
            "1000",
            "--source",
            "earthengine",
            "--dry-run",
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and not out.exists()
    assert "requests       ≥ 2,250" in text  # 2 × 1000 + 250 rejected searches (20 %)
    assert "7.2 MiB per location" in text  # 264² × 4 × (13 × 2 + 1) bytes
    assert "40 in flight" in text
