"""The STAC source on items in the catalogues' published shape (``data/*.json``, written by
hand after Earth Search ``sentinel-2-c1-l2a`` and Planetary Computer ``sentinel-2-l2a`` items,
trimmed to a few assets), a server that ignores a filter, and Planetary Computer's token
service failing (the real ``planetary_computer`` client against the offline server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from collector.run.choose import ChoiceRules
from collector.run.fill import collect_location
from collector.sources.base import PermanentError, TransientError
from collector.sources.retry import RetryPolicy
from collector.sources.stac.sign import PlanetaryComputerSigner
from tests.collector.sources import stac_fixtures as fx
from tests.collector.sources.stac_cases import es_item, es_source, pc_source


class TokenServiceSigner:
    """Signs local hrefs with tokens from the real ``planetary_computer.sas.get_token`` talking
    to the offline server's token service (``PC_SDK_SAS_URL``), for the Planetary Computer
    blob container that Sentinel-2 L2A lives in; no retries inside, like the source's own."""

    def __call__(self, href: str) -> str:
        from planetary_computer import sas

        token = sas.get_token("sentinel2l2a01", "sentinel2-l2", retry_total=0)
        return str(token.sign(href).href)

    def invalidate(self) -> None:
        from planetary_computer import sas

        sas.TOKEN_CACHE.clear()


PUBLISHED = Path(__file__).parent / "data"


def published_item(name: str, hrefs: dict[str, str]) -> dict[str, Any]:
    """A recorded-shaped item from ``data/<name>.json`` (as the catalogue publishes it), with
    the hrefs of the assets in ``hrefs`` pointed at the offline server and its geometry moved
    onto the test rasters. Everything else is kept."""
    item = json.loads((PUBLISHED / f"{name}.json").read_text())
    for key, href in hrefs.items():
        item["assets"][key]["href"] = href
    geometry = fx.footprint()
    ring = np.array(geometry["coordinates"][0])
    item["geometry"] = geometry
    item["bbox"] = [ring[:, 0].min(), ring[:, 1].min(), ring[:, 0].max(), ring[:, 1].max()]
    return item


ES_LOCAL = {"red": "B4", "nir08": "B8A"}
PC_LOCAL = {"B04": "B4", "B8A": "B8A"}


def test_earth_search_c1_item_as_published(stac):
    hrefs = {key: f"{stac.url}/utm/{band}.tif" for key, band in ES_LOCAL.items()}
    hrefs["scl"] = f"{stac.url}/scl/clear.tif"
    item = published_item("earth_search_c1_item", hrefs)
    assert item["properties"]["s2:nodata_pixel_percentage"] > 40  # a granule-edge scene
    assert item["assets"]["red"]["raster:bands"][0]["offset"] == -0.1
    stac.publish(item)
    src = es_source(stac, bands=("B4", "B8A"))
    loc = fx.location(1, "2024-06")
    (june,) = src.search(loc)
    assert [s.id for s in june] == ["S2A_T32TLP_20240615T103031_L2A"]
    assert june[0].cloud_percent == pytest.approx(3.214907) and june[0].clear_fraction == 1.0
    assert june[0].time == np.datetime64("2024-06-15T10:40:25.024", "ms")
    patch = src.fetch(loc, june)
    # raster:bands scale 0.0001 / offset −0.1 → 1000 DN subtracted; 20 m B8A at 20 m
    assert np.array_equal(patch.pixels.band("B4")[0], fx.expected_native("B4") - 1000)
    assert np.array_equal(patch.pixels.band("B8A")[0], fx.expected_native("B8A") - 1000)
    assert (patch.cloud == 0).all()


def test_planetary_computer_item_as_published(stac):
    item = published_item("planetary_computer_item", {})
    href = item["assets"]["B04"]["href"]
    assert href.startswith("https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/")
    hrefs = {key: f"{stac.url}/utm/{band}.tif" for key, band in PC_LOCAL.items()}
    hrefs["SCL"] = f"{stac.url}/scl/half.tif"
    stac.publish(published_item("planetary_computer_item", hrefs))
    src = pc_source(stac, bands=("B4", "B8A"))
    loc = fx.location(1, "2022-06")
    (june,) = src.search(loc)
    assert june[0].id == "S2A_MSIL2A_20220605T101611_R065_T32TLP_20220605T193316"
    assert june[0].clear_fraction == pytest.approx(0.5)  # top half cloud (SCL 8)
    patch = src.fetch(loc, june)
    # s2:processing_baseline 04.00 → 1000 DN subtracted
    assert np.array_equal(fx.on_grid(patch.pixels)[0, 0], fx.expected_band("B4") - 1000)
    assert (patch.cloud[0, :16] == 100).all() and (patch.cloud[0, 16:] == 0).all()


def test_a_filter_the_server_ignores_is_checked_again(stac):
    stac.state.ignore_query = True  # answers as if there were no eo:cloud_cover filter
    stac.publish(
        es_item(stac, "CLOUDY57", "2021-06-10T10:00:00Z", 57.0),
        es_item(stac, "CLEAR10", "2021-06-12T10:00:00Z", 10.0),
    )
    src = es_source(stac, granule_cloud_max=40.0)
    (june,) = src.search(fx.location(seasons=1))
    assert [s.id for s in june] == ["CLEAR10"]
    (search,) = [r for r in stac.state.requests("/search") if r.body]
    assert search.body["query"] == {"eo:cloud_cover": {"lte": 40.0}}  # it was asked for
    assert src.requests["scl"] == 1  # only CLEAR10's SCL was read


@pytest.fixture
def token_service(stac, monkeypatch):
    """``PC_SDK_SAS_URL`` at the offline server's token service; no cached tokens."""
    from planetary_computer import sas
    from planetary_computer.settings import Settings

    monkeypatch.setenv("PC_SDK_SAS_URL", f"{stac.url}{fx.TOKEN_PATH}")
    Settings.get.cache_clear()
    sas.TOKEN_CACHE.clear()
    yield stac
    sas.TOKEN_CACHE.clear()
    monkeypatch.delenv("PC_SDK_SAS_URL")
    Settings.get.cache_clear()


def test_the_real_signer_asks_the_token_service_and_retries_a_bounded_number_of_times(
    token_service,
):
    stac = token_service
    href = published_item("planetary_computer_item", {})["assets"]["B04"]["href"]
    signed = PlanetaryComputerSigner(retries=1, backoff_s=0.0)(href)
    assert signed.startswith(href + "?st=") and signed.endswith("&sig=TOKEN1")
    tokens = stac.state.requests(fx.TOKEN_PATH)
    assert [r.path for r in tokens] == [f"{fx.TOKEN_PATH}/sentinel2l2a01/sentinel2-l2"]
    assert PlanetaryComputerSigner()(f"{stac.url}/utm/B4.tif") == f"{stac.url}/utm/B4.tif"
    PlanetaryComputerSigner().invalidate()
    stac.state.token_fail[:] = [5, 503]
    import requests

    with pytest.raises(requests.RequestException):
        PlanetaryComputerSigner(retries=2, backoff_s=0.0)(href)
    assert [r.status for r in stac.state.requests(fx.TOKEN_PATH)][1:] == [503, 503, 503]


def test_a_failing_token_service_is_a_transient_error_inside_the_retry(token_service):
    stac = token_service
    stac.state.token_fail[:] = [1, 503]
    stac.publish(fx.item("PC_A", "2022-06-05T10:00:00Z", 1.0, fx_pc_assets(stac), "sentinel-2-l2a"))
    src = pc_source(stac, signer=TokenServiceSigner(), bands=("B4",))
    loc = fx.location(1, "2022-06")
    with pytest.raises(TransientError, match="503 from the token service|503 error"):
        src.search(loc)
    stac.state.token_fail[:] = [1, 503]
    TokenServiceSigner().invalidate()
    res = collect_location(
        src, loc, ChoiceRules(0.9, 20.0), RetryPolicy(3, 0.0, 0.0), sleep=lambda s: None
    )
    assert res.reason is None and res.counters.retries == 1 and res.counters.transient == 1
    assert np.array_equal(fx.on_grid(res.patch.pixels)[0, 0], fx.expected_band("B4") - 1000)
    reads = stac.state.requests("/utm/B4.tif")
    assert reads and all("sig=TOKEN" in r.query for r in reads)
    # a refusal (403) from the token service will not be helped by retrying
    stac.state.token_fail[:] = [1, 403]
    TokenServiceSigner().invalidate()
    with pytest.raises(PermanentError, match="403 from the token service"):
        src.fetch(loc, res.patch.scenes)


def fx_pc_assets(stac) -> dict[str, str]:
    return {"B04": f"{stac.url}/utm/B4.tif", "SCL": f"{stac.url}/scl/clear.tif"}
