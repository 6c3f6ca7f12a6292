"""The STAC source offline: HTTP and API errors, retries and signed hrefs."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from collector.run.choose import ChoiceRules
from collector.run.fill import collect_location
from collector.sources.base import PermanentError, TransientError
from collector.sources.retry import RetryPolicy
from collector.sources.stac.errors import classify_api_error
from collector.sources.stac.read import strip_query
from collector.sources.stac.source import StacSource
from tests.collector.sources import stac_fixtures as fx
from tests.collector.sources.stac_cases import (
    es_item,
    es_source,
    pc_item,
    pc_source,
)

# -- errors and retries ---------------------------------------------------------------------------


def test_a_503_is_retried_by_gdal_and_the_read_succeeds(stac):
    stac.put("/flaky1/red.tif", stac.state.files["/utm/B4.tif"])
    stac.state.fail["/flaky1/red.tif"] = [2, 503]
    stac.publish(es_item(stac, "FLAKY", "2021-06-10T10:00:00Z", 1.0, red="/flaky1/red.tif"))
    src = es_source(stac, bands=("B4",), http_retries=3)
    loc = fx.location(seasons=1)
    patch = src.fetch(loc, src.search(loc)[0])
    assert np.array_equal(fx.on_grid(patch.pixels)[0, 0], fx.expected_band("B4") - 1000)
    statuses = [r.status for r in stac.state.requests("/flaky1/")]
    assert statuses[:2] == [503, 503] and statuses[-1] in (200, 206)


def test_a_lasting_503_is_transient_and_the_engine_retry_reaches_the_server(stac):
    stac.put("/flaky2/red.tif", stac.state.files["/utm/B4.tif"])
    stac.state.fail["/flaky2/red.tif"] = [3, 503]  # GDAL's own 1 + 1 attempts are not enough
    stac.publish(es_item(stac, "FLAKY", "2021-06-10T10:00:00Z", 1.0, red="/flaky2/red.tif"))
    src = es_source(stac, bands=("B4",), http_retries=1)
    loc = fx.location(seasons=1)
    res = collect_location(
        src, loc, ChoiceRules(0.9, 20.0), RetryPolicy(4, 0.0, 0.0), sleep=lambda s: None
    )
    assert res.reason is None, res.reason
    assert res.counters.retries == 1 and res.counters.transient == 1
    assert np.array_equal(fx.on_grid(res.patch.pixels)[0, 0], fx.expected_band("B4") - 1000)
    assert [r.status for r in stac.state.requests("/flaky2/")][:3] == [503, 503, 503]


def test_a_404_is_permanent_and_not_retried(stac):
    stac.publish(es_item(stac, "GONE", "2021-06-10T10:00:00Z", 1.0, red="/nowhere/red.tif"))
    src = es_source(stac, bands=("B4",))
    loc = fx.location(seasons=1)
    with pytest.raises(PermanentError, match=r"nowhere/red\.tif.*404"):
        src.fetch(loc, src.search(loc)[0])
    res = collect_location(
        src, loc, ChoiceRules(0.9, 20.0), RetryPolicy(4, 0.0, 0.0), sleep=lambda s: None
    )
    assert res.failed and "404" in res.reason and res.counters.retries == 0


def test_search_errors_are_retried_then_typed(stac):
    stac.publish(es_item(stac, "ES_A", "2021-06-10T10:00:00Z", 1.0))
    src = es_source(stac, http_retries=2)
    src.client()  # the root is read once per process
    stac.state.search_fail[:] = [1, 503]
    assert len(src.search(fx.location(seasons=1))[0]) == 1
    assert [r.status for r in stac.state.requests("/search")] == [503, 200]
    stac.state.search_fail[:] = [5, 503]
    with pytest.raises(TransientError, match="503"):
        src.search(fx.location(seasons=1))
    stac.state.search_fail[:] = [1, 400]
    with pytest.raises(PermanentError, match="HTTP 400"):
        src.search(fx.location(seasons=1))
    down = StacSource("L2A", url="http://127.0.0.1:9", http_retries=0)  # nothing listens
    with pytest.raises(TransientError):
        down.search(fx.location(seasons=1))


def test_api_error_classification():
    from pystac_client.exceptions import APIError

    def api(status):
        e = APIError("answer")
        e.status_code = status
        return e

    assert isinstance(classify_api_error(api(429)), TransientError)
    assert isinstance(classify_api_error(api(502)), TransientError)
    assert isinstance(classify_api_error(api(404)), PermanentError)
    assert isinstance(classify_api_error(api(400)), PermanentError)
    assert isinstance(classify_api_error(APIError("Read timed out. (timeout=30)")), TransientError)
    assert isinstance(classify_api_error(ValueError("Expecting value")), PermanentError)


# -- signing -------------------------------------------------------------------------------------


def test_hrefs_are_signed_and_a_403_signs_again_once(stac):
    stac.put("/pc403/B04.tif", stac.state.files["/utm/B4.tif"])
    stac.state.deny.append(("/pc403/B04.tif", r"sig=SECRET1\b", 403))  # token 1 has expired
    stac.publish(pc_item(stac, "PC_A", "2022-06-05T10:00:00Z", 1.0, B04="/pc403/B04.tif"))
    signer = fx.CountingSigner()
    src = pc_source(stac, signer=signer, bands=("B4",))
    loc = fx.location(1, "2022-06")
    (june,) = src.search(loc)
    patch = src.fetch(loc, june)
    assert np.array_equal(fx.on_grid(patch.pixels)[0, 0], fx.expected_band("B4") - 1000)
    assert signer.invalidated == 1 and src.requests["resigned"] == 1
    assert signer.signed.count(f"{stac.url}/pc403/B04.tif") == 2
    assert all("?" not in href for href in signer.signed)  # always the unsigned href
    reads = stac.state.requests("/pc403/")
    assert reads[0].status == 403 and "sig=SECRET1" in reads[0].query
    assert reads[-1].status in (200, 206) and "sig=SECRET2" in reads[-1].query


def test_a_lasting_403_is_transient_and_no_token_leaks(stac):
    stac.put("/pcdeny/B04.tif", stac.state.files["/utm/B4.tif"])
    stac.state.deny.append(("/pcdeny/B04.tif", r"sig=", 403))
    stac.publish(pc_item(stac, "PC_A", "2022-06-05T10:00:00Z", 1.0, B04="/pcdeny/B04.tif"))
    signer = fx.CountingSigner()
    src = pc_source(stac, signer=signer, bands=("B4",))
    loc = fx.location(1, "2022-06")
    (june,) = src.search(loc)
    with pytest.raises(TransientError) as info:
        src.fetch(loc, june)
    assert signer.invalidated == 1
    text = f"{info.value!s} {info.value!r} {info.value.__cause__!r} {info.value.__context__!r}"
    assert "403" in text and "/pcdeny/B04.tif" in text
    for secret in ("SECRET", "sig=", "se=", "?st"):
        assert secret not in text
    # unsigned (Earth Search): a 403 is S3's answer for a missing object, permanent
    stac.publish(es_item(stac, "ES_DENY", "2022-06-06T10:00:00Z", 1.0, red="/pcdeny/B04.tif"))
    stac.state.deny.append(("/pcdeny/B04.tif", r"^$", 403))
    es = es_source(stac, bands=("B4",))
    with pytest.raises(PermanentError, match="403"):
        es.fetch(loc, [s for s in es.search(loc)[0] if s.id == "ES_DENY"])


def test_default_signer_is_planetary_computers_and_strip_query():
    src = StacSource("L2A", catalog="planetary-computer")
    assert type(src.signer).__name__ == "PlanetaryComputerSigner"
    assert pickle.loads(pickle.dumps(src)).signer == src.signer
    assert StacSource("L2A").signer is None  # Earth Search hrefs are public
    text = "'/vsicurl/https://acc.blob.core.windows.net/c/B04.tif?st=1&sig=abc%3D' failed"
    assert strip_query(text) == "'/vsicurl/https://acc.blob.core.windows.net/c/B04.tif' failed"
