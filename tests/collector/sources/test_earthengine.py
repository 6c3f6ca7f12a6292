"""The Earth Engine source through the real earthengine-api client, over HTTP to a local
endpoint (:mod:`collector.sources.earthengine.server`): requests on the wire, answers decoded,
granule edges, scenes without Cloud Score+, and what reaches the store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from collector.run.choose import ChoiceRules
from collector.run.fill import collect_location
from collector.sources.base import Location, PermanentError, clear_fraction
from collector.sources.earthengine.server import DAY_MS, FakeScene
from collector.sources.earthengine.source import EarthEngineSource, decode_pixels
from collector.sources.earthengine.testing import constants, functions, invocations
from collector.sources.retry import RetryPolicy
from shared.layout.grid import PatchGrid

SIZE = 16
NICE = PatchGrid.from_center(7.26, 43.70, SIZE)  # Nice, France: UTM 32N


def nice_location(seasons: int = 2) -> Location:
    first = np.datetime64("2021-06", "M")
    windows = tuple(
        ((first + 3 * s).astype("datetime64[D]"), (first + 3 * s + 1).astype("datetime64[D]"))
        for s in range(seasons)
    )
    return Location(7, 7.26, 43.70, NICE.epsg, NICE.transform, SIZE, windows)


def source(server, collection: str = "L1C", **kw) -> EarthEngineSource:
    return EarthEngineSource(collection, url=server.url, deadline_s=5.0, **kw)


def unmask_footprints(graph: dict) -> list:
    """The ``sameFootprint`` argument of every ``Image.unmask`` (None: left at its default)."""
    return [
        (args.get("sameFootprint") or {}).get("constantValue")
        for args in invocations(graph, "Image.unmask")
    ]


def test_search_request_on_the_wire(fake_ee):
    src = source(fake_ee, granule_cloud_max=20.0)
    found = src.search(nice_location())
    (call,) = fake_ee.api_calls()
    assert call.method == "POST" and call.path.endswith("/projects/test-project/value:compute")
    assert call.authorization.startswith("Bearer tok-")  # from the token endpoint, via the key
    graph = call.body["expression"]
    values = constants(graph)
    assert "COPERNICUS/S2_HARMONIZED" in values
    assert "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED" in values and ["cs_cdf"] in values
    assert "CLOUDY_PIXEL_PERCENTAGE" in values and 20.0 in values
    for day in ("2021-06-01", "2021-07-01", "2021-09-01", "2021-10-01"):
        assert int(np.datetime64(day, "ms").astype(np.int64)) in values
    assert "EPSG:32632" in values and list(NICE.bounds) in values
    assert {"Image.reduceRegion", "Reducer.mean", "Image.linkCollection", "Reducer.toList"} <= set(
        functions(graph)
    )
    assert 0.6 in values and 20 in values  # cs_cdf threshold, 20 m measuring scale
    assert unmask_footprints(graph) and set(unmask_footprints(graph)) == {False}
    assert [len(w) for w in found] == [2, 2]
    assert [s.clear_fraction for s in found[0]] == [0.97, 0.99]


def test_l2a_uses_the_surface_reflectance_collection(fake_ee):
    src = source(fake_ee, "L2A")
    src.search(nice_location())
    assert "COPERNICUS/S2_SR_HARMONIZED" in constants(fake_ee.api_calls()[0].body)
    assert "B10" not in src.bands and len(src.bands) == 12


def test_pixels_request_on_the_wire_and_its_answer_decoded(fake_ee):
    src = source(fake_ee, bands=("B2", "B3", "B4", "B8"))
    loc = nice_location()
    found = src.search(loc)
    patch = src.fetch(loc, [found[0][1], found[1][0]])
    body = fake_ee.api_calls()[-1].body
    assert body["fileFormat"] == "NPY"  # what the client sends for NUMPY_NDARRAY
    a, b, c, d, e, f = NICE.transform
    assert body["grid"] == {
        "dimensions": {"width": SIZE, "height": SIZE},
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
    graph = body["expression"]
    values = constants(graph)
    ids = [s.id for s in (found[0][1], found[1][0])]
    strings = {v for v in values if isinstance(v, str)}
    assert {f"COPERNICUS/S2_HARMONIZED/{i}" for i in ids} <= strings
    assert {f"GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED/{i}" for i in ids} <= strings
    assert ["B2", "B3", "B4", "B8"] in values and 255 in values
    assert "Image.resample" not in functions(graph)  # nearest: sensor pixels arrive as blocks
    assert set(unmask_footprints(graph)) == {False}
    # decoded in place and band order: scene 1 of window 0 has DN 2000 + band index
    px = patch.pixels.to_grid()  # native images (all 10 m here) on the 10 m grid
    assert px.shape == (2, 4, SIZE, SIZE) and patch.cloud.shape == (2, SIZE, SIZE)
    assert (px[0, 2] == 2000 + 3).all() and (px[1, 3] == 1000 + 7).all()
    assert (patch.cloud == 5).all() and [s.id for s in patch.scenes] == ids


def test_decode_refuses_a_short_answer():
    data = np.zeros((4, 4), dtype=[("s0_B4", "<u2")])
    with pytest.raises(PermanentError, match="expected"):
        decode_pixels(data, 1, ("B4", "B3"), 4, [])


def edge_world(window: int, start: int) -> list[FakeScene]:
    """One scene per window, clear everywhere, but only the left 12 of 16 columns inside its
    granule's footprint."""
    return [FakeScene(f"EDGE{window}", start + DAY_MS, 2.0, clear=1.0, coverage=0.75)]


def test_pixels_outside_the_granule_are_no_data_and_not_clear(fake_ee):
    fake_ee.world = edge_world
    src = source(fake_ee, bands=("B4",))
    loc = nice_location(1)
    (scenes,) = src.search(loc)
    assert scenes[0].clear_fraction == pytest.approx(0.75)  # not 1.0: the edge counts
    patch = src.fetch(loc, scenes)
    px = patch.pixels.to_grid()
    assert (patch.cloud[0, :, 12:] == 255).all() and (px[0, 0, :, 12:] == 0).all()
    assert (patch.cloud[0, :, :12] == 5).all() and (px[0, 0, :, :12] == 1003).all()
    assert clear_fraction(patch.cloud[0]) == pytest.approx(0.75)
    res = collect_location(
        src, loc, ChoiceRules(0.9, 20.0), RetryPolicy(1, 0.0, 0.0), sleep=lambda s: None
    )
    assert res.patch is None and "0.75 < 0.90" in res.reason


def no_score_world(window: int, start: int) -> list[FakeScene]:
    """A clear scene without a Cloud Score+ image, and a measured one that is 0.95 clear."""
    return [
        FakeScene(f"NOSCORE{window}", start + DAY_MS, 0.5, clear=1.0, scored=False),
        FakeScene(f"SCORED{window}", start + 2 * DAY_MS, 9.0, clear=0.95),
    ]


def test_a_scene_without_cloud_score_is_kept_and_ranked_last(fake_ee):
    from collector.run.choose import rank_windows

    fake_ee.world = no_score_world
    src = source(fake_ee, bands=("B4",))
    loc = nice_location(1)
    (scenes,) = src.search(loc)
    assert {s.id: s.clear_fraction for s in scenes} == {"NOSCORE0": None, "SCORED0": 0.95}
    (ranked,) = rank_windows([scenes], ChoiceRules(0.9, 20.0))
    assert [s.id for s in ranked] == ["SCORED0", "NOSCORE0"]
    # fetched anyway, it asks for no Cloud Score+ image and its cloud is unknown (255)
    patch = src.fetch(loc, scenes)
    assert [s.id for s in patch.scenes] == ["NOSCORE0", "SCORED0"]
    values = constants(fake_ee.api_calls()[-1].body)
    assert "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED/NOSCORE0" not in values
    assert "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED/SCORED0" in values
    assert (patch.cloud[0] == 255).all() and (patch.pixels.to_grid() == 1003).all()
    # the scored one is 0.95 clear: its top row is cloudy (cs_cdf 0.3 → 70 %)
    assert (patch.cloud[1, 0] == 70).all() and (patch.cloud[1, 1:] == 5).all()


def test_two_requests_per_location(fake_ee):
    src = source(fake_ee)
    rules, policy = ChoiceRules(0.9, 20.0), RetryPolicy(4, 0.0, 0.0)
    res = collect_location(src, nice_location(4), rules, policy, sleep=lambda s: None)
    assert res.reason is None and res.clear.min() > 0.9
    assert [c.path.rsplit("/", 1)[1] for c in fake_ee.api_calls()] == [
        "value:compute",
        "image:computePixels",
    ]
    assert res.counters.requests == 2 and res.counters.retries == 0
    assert all("T113031" in s.id for s in res.patch.scenes)  # the 0.99-clear scene each time


def test_source_pickles_without_its_session(fake_ee):
    import pickle

    src = source(fake_ee)
    src.search(nice_location())
    clone = pickle.loads(pickle.dumps(src))
    assert clone._api is None and clone.project == "test-project" and clone.deadline_s == 5.0
    with pytest.raises(ValueError, match="deadline_s"):
        EarthEngineSource("L1C", project="p", deadline_s=0)


def test_invalid_key_variable_is_not_echoed():
    from collector.sources.earthengine.auth import EarthEngineAuthError, find_credentials

    secret = '{"type": "service_account", "private_key": "TOPSECRET'
    with pytest.raises(EarthEngineAuthError) as info:
        find_credentials({"EE_SERVICE_ACCOUNT_KEY": secret})
    assert "TOPSECRET" not in str(info.value) and "EE_SERVICE_ACCOUNT_KEY" in str(info.value)


def test_collection_at_a_granule_edge_stores_no_data_and_no_key(tmp_path, fake_ee, capsys):
    """A full collection through the CLI, the real client and a real-looking key: the store
    holds the edge as no data, and no trace of the key anywhere."""
    import zarr

    from collector.cli import main

    key = json.loads(__import__("os").environ["EE_SERVICE_ACCOUNT_KEY"])
    fake_ee.world = edge_world
    out = tmp_path / "ee.zarr"
    argv = ["collect", "--region=FR", "--n", "4", "--size", "16", "--shard-samples", "4"]
    argv += ["--source", "earthengine", "--bands", "l1c:B4,B8", "--clear-threshold", "0.7"]
    argv += ["--scheduler", "threads", "--workers", "1", "--no-progress", "--out", str(out)]
    argv += ["--ee-deadline", "5", "--source-option", json.dumps({"url": fake_ee.url})]
    assert main(argv) == 0
    logs = capsys.readouterr()
    assert len(fake_ee.api_calls()) == 2 * 4  # two requests per location, no rejections
    group = zarr.open_group(str(out), mode="r")
    cloud, pixels = group["cloud"][:], group["pixels_10m"][:]
    assert cloud.shape == (4, 4, 16, 16) and pixels.shape == (4, 4, 2, 16, 16)
    assert (cloud[..., 12:] == 255).all() and (pixels[..., 12:] == 0).all()
    assert (cloud[..., :12] == 5).all() and (pixels[..., :12] > 0).all()
    assert np.allclose(group["clear_fraction"][:], 0.75)
    store_bytes = b"".join(p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file())
    pem_body = key["private_key"].splitlines()[5].encode()
    for marker in (pem_body, b"PRIVATE KEY", key["private_key_id"].encode()):
        assert marker not in store_bytes
        assert marker.decode() not in logs.out + logs.err
    assert not json.loads((out / "zarr.json").read_text())["attributes"]["synthetic"]


def test_dry_run_contacts_nothing_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from collector.cli import main

    monkeypatch.delenv("EE_SERVICE_ACCOUNT_KEY", raising=False)
    out = tmp_path / "never.zarr"
    argv = ["collect", "--region=europe", "--n", "1000", "--source", "earthengine"]
    code = main([*argv, "--dry-run", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and not out.exists()
    assert "requests       ≥ 2,250" in text  # 2 × 1000 + 250 rejected searches (20 %)
    assert "7.2 MiB per location" in text  # 264² × 4 × (13 × 2 + 1) bytes
    assert "40 in flight" in text
    # 2,250 / 0.95: every request is sent at most 6 times, the client adds none of its own
    assert "retries        ≈ 2,368 requests with 5% transient errors" in text


def test_dry_run_attempts_per_request_are_bounded():
    from collector.dryrun import attempts_per_request

    assert attempts_per_request(0.0, 6) == 1.0
    assert attempts_per_request(0.05, 6) == pytest.approx(1 / 0.95, rel=1e-6)
    assert attempts_per_request(0.999, 6) == pytest.approx(6, rel=0.01)  # never more than 6
    # GDAL's 4 tries inside each of the engine's attempts: at most 4 × 6
    assert attempts_per_request(0.999, 6, inner=4) < 24


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_deadline_that_is_not_positive_is_a_usage_error(tmp_path, capsys, value):
    from collector.cli import main

    out = tmp_path / "never.zarr"
    argv = ["collect", "--region=FR", "--n", "4", "--ee-deadline", value, "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--ee-deadline must be > 0" in err
    assert not out.exists()


def native_world(window: int, start: int) -> list[FakeScene]:
    """One clear scene per window whose bands vary from sensor pixel to sensor pixel."""
    return [FakeScene(f"NATIVE{window}", start + DAY_MS, 2.0, clear=1.0, texture=True)]


def expected_native(band: str, transform, side: int, resolution: int, dn: int) -> np.ndarray:
    """The sensor pixels of ``band`` over a patch whose corner lies on the 60 m lattice."""
    from collector.sources.earthengine.server import _BANDS, native_texture

    col0, row0 = round(transform[2] / resolution), round(transform[5] / resolution)
    cols = np.broadcast_to(col0 + np.arange(side)[None, :], (side, side))
    rows = np.broadcast_to(row0 - np.arange(side)[:, None], (side, side))
    return dn + _BANDS.index(band) + native_texture(band, cols, rows)


def test_native_sensor_pixels_end_to_end_through_the_store(tmp_path, fake_ee, monkeypatch):
    """Earth Engine answers sensor pixels as nearest blocks on the 10 m grid; the worker
    decimates them and the store holds each 20/60 m sensor pixel once, unchanged."""
    import collector.run.jobs
    from collector.cli import main
    from shared.layout.bands import band_names
    from shared.store.handle import open_store
    from shared.store.reader import StoreReader

    # the per-process limiter cache outlives an in-process Dask cluster (one per collect):
    # a second in-process collection would find the first one's closed semaphore
    monkeypatch.setattr(collector.run.jobs, "_CACHE", {})
    fake_ee.world = native_world
    out = tmp_path / "native.zarr"
    argv = ["collect", "--region=FR", "--n", "2", "--size", "24", "--shard-samples", "2"]
    argv += ["--source", "earthengine", "--bands", "l1c", "--scheduler", "threads"]
    argv += ["--workers", "1", "--no-progress", "--out", str(out)]
    argv += ["--ee-deadline", "5", "--source-option", json.dumps({"url": fake_ee.url})]
    assert main(argv) == 0
    pixel_calls = [c for c in fake_ee.api_calls() if c.path.endswith("computePixels")]
    assert len(pixel_calls) == 2  # still one request per location
    store = open_store(out)
    native = StoreReader(store).native([0, 1])
    for sample in (0, 1):
        transform = np.asarray(store.array("transform")[sample])
        assert transform[2] % 60 == 0 and transform[5] % 60 == 0
        for band in band_names("L1C"):
            res = {"10m": 10, "20m": 20, "60m": 60}[store.attrs["band_groups"][band]]
            want = expected_native(band, transform, 24 * 10 // res, res, 1000)
            got = native.band(band)[sample]
            assert got.shape == (4, *want.shape)
            np.testing.assert_array_equal(got, np.broadcast_to(want, got.shape))
