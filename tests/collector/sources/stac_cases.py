"""Shared pieces of the STAC source's tests: the offline server's contents, items, sources."""

from __future__ import annotations

import numpy as np

from collector.sources.stac.catalogs import CATALOGS, EARTH_SEARCH_ASSETS, PLANETARY_COMPUTER_ASSETS
from collector.sources.stac.source import StacSource
from shared.layout.bands import band_names
from tests.collector.sources import stac_fixtures as fx

L2A = band_names("L2A")
ES_C1 = CATALOGS["earth-search"].collection_id
PC_L2A = CATALOGS["planetary-computer"].collection_id


def offline_stac() -> fx.OfflineStac:
    """The server with every COG the tests read (written once, ≈ 1 s)."""
    srv = fx.OfflineStac()
    for band in L2A:
        srv.put(f"/utm/{band}.tif", fx.utm_band(band))
        srv.put(f"/zone31/{band}.tif", fx.other_zone_band())
    srv.put("/utm/dark_B2.tif", fx.utm_dark_band("B2"))
    clear = fx.scl_grid(4)
    srv.put("/scl/clear.tif", fx.scl_bytes(clear))
    half = fx.scl_grid(4)
    fx.patch_scl_view(half)[:8] = 8  # the patch's top half: cloud (medium probability)
    srv.put("/scl/half.tif", fx.scl_bytes(half))
    srv.put("/scl/mixed.tif", fx.scl_bytes(mixed_scl()))
    srv.put("/zone31/scl.tif", fx.scl_bytes(clear))
    return srv


def mixed_scl() -> np.ndarray:
    """Under the patch, SCL row r (20 m) holds class MIXED[r % 8]."""
    scl = fx.scl_grid(4)
    view = fx.patch_scl_view(scl)
    for r in range(view.shape[0]):
        view[r] = MIXED[r % len(MIXED)]
    return scl


MIXED = [0, 3, 8, 9, 10, 4, 5, 11]  # no data, shadow, cloud ×2, cirrus, vegetation, soil, snow


def es_assets(server, folder: str = "/utm", scl: str = "/scl/clear.tif", **swap) -> dict:
    hrefs = {EARTH_SEARCH_ASSETS[b]: f"{server.url}{folder}/{b}.tif" for b in L2A}
    hrefs["scl"] = f"{server.url}{scl}"
    hrefs.update({k: f"{server.url}{v}" for k, v in swap.items()})
    return hrefs


def pc_assets(server, scl: str = "/scl/clear.tif", **swap) -> dict:
    hrefs = {PLANETARY_COMPUTER_ASSETS[b]: f"{server.url}/utm/{b}.tif" for b in L2A}
    hrefs["SCL"] = f"{server.url}{scl}"
    hrefs.update({k: f"{server.url}{v}" for k, v in swap.items()})
    return hrefs


def es_item(server, item_id, when, cloud, **kw):
    """An Earth Search c1 item: raw DN, raster:bands scale 0.0001 offset −0.1."""
    assets = kw.pop("assets", None) or es_assets(server, **kw)
    return fx.item(item_id, when, cloud, assets, ES_C1, "05.00", raster_offset=-0.1)


def pc_item(server, item_id, when, cloud, baseline="04.00", **kw):
    """A Planetary Computer item: raw DN, no raster metadata, ``s2:processing_baseline``."""
    assets = kw.pop("assets", None) or pc_assets(server, **kw)
    return fx.item(item_id, when, cloud, assets, PC_L2A, baseline)


def es_source(server, **kw) -> StacSource:
    kw.setdefault("http_retry_delay_s", 0.01)
    return StacSource("L2A", catalog="earth-search", url=server.url, **kw)


def pc_source(server, signer=None, **kw) -> StacSource:
    kw.setdefault("http_retry_delay_s", 0.01)
    return StacSource(
        "L2A", catalog="planetary-computer", url=server.url, signer=signer or fx.sign_nothing, **kw
    )
