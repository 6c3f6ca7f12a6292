"""The public STAC catalogues of Sentinel-2 L2A COGs: where they are, how their assets are
named, and how their digital numbers become the store's harmonized DN.

Both catalogues serve **L2A only** (surface reflectance plus the SCL scene classification
that this source turns into clouds); neither needs an account.

- **earth-search** — Earth Search v1 (Element84, AWS),
  ``https://earth-search.aws.element84.com/v1``, collection ``sentinel-2-c1-l2a`` (ESA's
  Collection 1, processing baseline ≥ 05.00), assets ``coastal blue green red rededge1-3 nir
  nir08 nir09 swir16 swir22 scl``; raw DN, reflectance = DN × 0.0001 − 0.1 for every item, as
  each asset's ``raster:bands`` scale and offset say; public https hrefs.
- **planetary-computer** — Microsoft Planetary Computer,
  ``https://planetarycomputer.microsoft.com/api/stac/v1``, collection ``sentinel-2-l2a``,
  assets ``B01 … B12, B8A, SCL``; raw DN, reflectance = DN × 0.0001, minus 0.1 when
  ``s2:processing_baseline`` ≥ 04.00; hrefs are Azure blobs that need a SAS token
  (``planetary_computer.sign``), which expires.

Earth Search's older ``sentinel-2-l2a`` collection is not offered: whether its offset was
already subtracted varies per item and its ``earthsearch:boa_offset_applied`` flag is known
to be wrong for some (Element84/earth-search issues #9, #24, #66, #71). Earth Search's L1C
(``sentinel-2-l1c``) points at requester-pays JPEG2000 files and has no SCL, so it is out too.

**Harmonized DN** (:func:`harmonize`): the store holds reflectance × 10⁴ with 0 = no data,
like Earth Engine's ``*_HARMONIZED`` collections. Products of processing baseline ≥ 04.00
(from 2022-01-25, and all of Collection 1) encode reflectance as (DN − 1000) / 10⁴, so 1000
is subtracted; a valid pixel never becomes 0 (it is clipped at 1) and DN 0 stays 0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

__all__ = [
    "Catalog",
    "CATALOGS",
    "EARTH_SEARCH_ASSETS",
    "PLANETARY_COMPUTER_ASSETS",
    "OFFSET_RULES",
    "BASELINE_OFFSET_DN",
    "SCL_CLOUDY",
    "SCL_NODATA",
    "resolve_catalog",
    "asset_key",
    "dn_offset",
    "harmonize",
    "scl_to_cloud",
]

#: store band name → Earth Search asset key ("SCL" is the scene classification).
EARTH_SEARCH_ASSETS: dict[str, str] = {
    "B1": "coastal",
    "B2": "blue",
    "B3": "green",
    "B4": "red",
    "B5": "rededge1",
    "B6": "rededge2",
    "B7": "rededge3",
    "B8": "nir",
    "B8A": "nir08",
    "B9": "nir09",
    "B11": "swir16",
    "B12": "swir22",
    "SCL": "scl",
}
#: store band name → Planetary Computer asset key.
PLANETARY_COMPUTER_ASSETS: dict[str, str] = {
    "B1": "B01",
    "B2": "B02",
    "B3": "B03",
    "B4": "B04",
    "B5": "B05",
    "B6": "B06",
    "B7": "B07",
    "B8": "B08",
    "B8A": "B8A",
    "B9": "B09",
    "B11": "B11",
    "B12": "B12",
    "SCL": "SCL",
}

#: How raw DN become harmonized DN (see :func:`dn_offset`).
OFFSET_RULES = ("raster-bands", "baseline", "none")
#: The offset of processing baseline ≥ 04.00 products, in DN (BOA_ADD_OFFSET).
BASELINE_OFFSET_DN = -1000
#: First processing baseline, and first day, with the offset.
OFFSET_BASELINE = (4, 0)
OFFSET_SINCE = np.datetime64("2022-01-25", "D")

#: SCL classes that are not clear: 3 cloud shadow, 8 cloud medium, 9 cloud high, 10 thin
#: cirrus. 0 is no data; every other class (vegetation, soil, water, snow, …) is clear.
SCL_CLOUDY = (3, 8, 9, 10)
SCL_NODATA = 0


@dataclass(frozen=True)
class Catalog:
    """One STAC API and how to read its Sentinel-2 L2A items.

    ``assets`` maps store band names (and ``"SCL"``) to asset keys; ``None`` means each band
    is looked up under the Earth Search name, then the Planetary Computer name.
    ``offset`` is one of :data:`OFFSET_RULES`; ``signed`` says hrefs need a SAS token.
    """

    name: str
    url: str
    collection_id: str
    assets: Mapping[str, str] | None
    offset: str
    signed: bool = False


CATALOGS: dict[str, Catalog] = {
    "earth-search": Catalog(
        name="earth-search",
        url="https://earth-search.aws.element84.com/v1",
        collection_id="sentinel-2-c1-l2a",
        assets=EARTH_SEARCH_ASSETS,
        offset="raster-bands",
    ),
    "planetary-computer": Catalog(
        name="planetary-computer",
        url="https://planetarycomputer.microsoft.com/api/stac/v1",
        collection_id="sentinel-2-l2a",
        assets=PLANETARY_COMPUTER_ASSETS,
        offset="baseline",
        signed=True,
    ),
}

_URL = re.compile(r"^https?://[^/\s?#]+[^\s?#]*$")


def resolve_catalog(
    catalog: str,
    url: str | None = None,
    collection_id: str | None = None,
    assets: Mapping[str, str] | None = None,
    offset: str | None = None,
) -> Catalog:
    """The catalogue named ``catalog`` (a key of :data:`CATALOGS`) or at an API root URL.

    ``url``, ``collection_id``, ``assets`` and ``offset`` override the table's entry (``url``
    for a mirror or a test server). Any other STAC API is given by its root URL and needs
    ``collection_id``; its asset names are inferred unless ``assets`` is given, and its offset
    rule defaults to ``raster-bands``. Checks only the input: nothing is contacted.
    """
    if catalog in CATALOGS:
        entry = CATALOGS[catalog]
    elif _URL.match(catalog):
        if not collection_id:
            raise ValueError(
                f"STAC catalogue {catalog!r} is a URL: give its Sentinel-2 L2A collection as "
                'collection_id (e.g. --source-option \'{"collection_id": "sentinel-2-l2a"}\')'
            )
        entry = Catalog(catalog, catalog.rstrip("/"), collection_id, None, "raster-bands")
    else:
        raise ValueError(
            f"unknown STAC catalogue {catalog!r}: choose one of {', '.join(CATALOGS)} "
            "or give an API root URL (http:// or https://)"
        )
    if url is not None and not _URL.match(url):
        raise ValueError(f"STAC url must be an http(s) URL without query string, got {url!r}")
    if offset is not None and offset not in OFFSET_RULES:
        raise ValueError(f"offset rule must be one of {', '.join(OFFSET_RULES)}, got {offset!r}")
    if assets is not None:
        if not isinstance(assets, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in assets.items()
        ):
            raise ValueError("assets must map band names (B1 … B12, B8A, SCL) to asset keys")
        if "SCL" not in assets:
            raise ValueError("assets must name the scene classification asset under 'SCL'")
    return replace(
        entry,
        url=(url or entry.url).rstrip("/"),
        collection_id=collection_id or entry.collection_id,
        assets=dict(assets) if assets is not None else entry.assets,
        offset=offset or entry.offset,
    )


def asset_key(catalog: Catalog, band: str, item_assets: Mapping[str, Any]) -> str | None:
    """The key of ``band``'s asset in an item, or ``None`` when the item lacks it."""
    if catalog.assets is not None:
        key = catalog.assets.get(band)
        return key if key is not None and key in item_assets else None
    for table in (EARTH_SEARCH_ASSETS, PLANETARY_COMPUTER_ASSETS):
        if table[band] in item_assets:
            return table[band]
    return None


def expected_asset_key(catalog: Catalog, band: str) -> str:
    """The asset key a band is looked up under, for error messages."""
    if catalog.assets is not None:
        return catalog.assets.get(band, band)
    return f"{EARTH_SEARCH_ASSETS[band]}' or '{PLANETARY_COMPUTER_ASSETS[band]}"


def _baseline(value: Any) -> tuple[int, int] | None:
    match = re.match(r"^\s*(\d+)\.(\d+)", str(value)) if value is not None else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def _raster_offset(asset: Mapping[str, Any]) -> int | None:
    """``offset / scale`` in DN from the raster extension (v1 ``raster:bands``, or STAC 1.1
    ``bands`` with ``raster:offset``/``raster:scale``), when the asset states both."""
    for entries, off_key, scale_key in (
        (asset.get("raster:bands"), "offset", "scale"),
        (asset.get("bands"), "raster:offset", "raster:scale"),
    ):
        if isinstance(entries, list) and entries and isinstance(entries[0], Mapping):
            first = entries[0]
            offset, scale = first.get(off_key), first.get(scale_key)
            if isinstance(offset, (int, float)) and isinstance(scale, (int, float)) and scale:
                return int(round(offset / scale))
    return None


def dn_offset(
    rule: str, properties: Mapping[str, Any], asset: Mapping[str, Any], time: np.datetime64
) -> int:
    """DN to add to an asset's raw values to get harmonized DN (reflectance × 10⁴).

    - ``none``: 0 (the catalogue serves harmonized values already);
    - ``baseline``: −1000 when ``s2:processing_baseline`` ≥ 04.00, else 0; without that
      property, −1000 for acquisitions from 2022-01-25 on (Planetary Computer);
    - ``raster-bands``: the asset's own ``offset / scale`` (Earth Search c1: −0.1 / 0.0001 =
      −1000); without raster metadata, the ``baseline`` rule.
    """
    if rule == "none":
        return 0
    if rule == "raster-bands":
        stated = _raster_offset(asset)
        if stated is not None:
            return stated
    elif rule != "baseline":
        raise ValueError(f"offset rule must be one of {', '.join(OFFSET_RULES)}, got {rule!r}")
    baseline = _baseline(properties.get("s2:processing_baseline"))
    if baseline is not None:
        return BASELINE_OFFSET_DN if baseline >= OFFSET_BASELINE else 0
    return BASELINE_OFFSET_DN if time.astype("datetime64[D]") >= OFFSET_SINCE else 0


def harmonize(dn: np.ndarray, offset: int) -> np.ndarray:
    """uint16 harmonized DN: ``dn + offset`` clipped to [1, 65535]; 0 (no data) stays 0."""
    raw = np.asarray(dn)
    if offset == 0:
        return raw.astype(np.uint16, copy=False)
    shifted = np.clip(raw.astype(np.int32) + int(offset), 1, 65535).astype(np.uint16)
    return np.where(raw == 0, np.uint16(0), shifted)


def scl_to_cloud(scl: np.ndarray) -> np.ndarray:
    """The store's cloud probability (uint8 %) from SCL: 100 for classes 3, 8, 9, 10,
    255 for 0 (no data), 0 for every other class."""
    scl = np.asarray(scl)
    cloud = np.where(np.isin(scl, SCL_CLOUDY), np.uint8(100), np.uint8(0)).astype(np.uint8)
    cloud[scl == SCL_NODATA] = 255
    return cloud
