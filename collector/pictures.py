"""Pictures a person would rather look at than read: location maps and season previews."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from shapely.geometry import shape  # noqa: E402

__all__ = ["country_outlines", "location_map", "season_preview"]


@lru_cache(maxsize=1)
def country_outlines() -> list[np.ndarray]:
    """Country boundary rings (lon/lat arrays) from the ``countryinfo`` package, offline.

    Natural Earth at 1:110m scale: right for a world or continent map, coarse up close.
    Empty when the package is missing.
    """
    try:
        root = files("countryinfo").joinpath("data")
    except ModuleNotFoundError:
        return []
    rings: list[np.ndarray] = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        data = json.loads(entry.read_text(encoding="utf-8"))
        for feature in (data.get("geoJSON") or {}).get("features", []):
            geom = shape(feature["geometry"])
            for poly in getattr(geom, "geoms", [geom]):
                if isinstance(poly, shapely.Polygon):
                    rings.append(np.asarray(poly.exterior.coords))
    return rings


def _extent(lon: np.ndarray, lat: np.ndarray) -> tuple[float, float, float, float]:
    if lon.size == 0:
        return (-180, 180, -60, 85)
    pad_lon = max(2.0, 0.08 * (lon.max() - lon.min()))
    pad_lat = max(2.0, 0.08 * (lat.max() - lat.min()))
    return (
        max(lon.min() - pad_lon, -180),
        min(lon.max() + pad_lon, 180),
        max(lat.min() - pad_lat, -90),
        min(lat.max() + pad_lat, 90),
    )


def location_map(
    lon: np.ndarray,
    lat: np.ndarray,
    groups: np.ndarray,
    path: str | Path,
    title: str,
    colors: dict[str, str] | None = None,
) -> Path:
    """Scatter ``lon/lat`` coloured by ``groups`` (label per point) over country outlines."""
    lon, lat, groups = np.asarray(lon), np.asarray(lat), np.asarray(groups)
    x0, x1, y0, y1 = _extent(lon, lat)
    width = 11.0
    aspect = (y1 - y0) / max(x1 - x0, 1e-6) / np.cos(np.radians((y0 + y1) / 2))
    fig, ax = plt.subplots(figsize=(width, float(np.clip(width * aspect, 3.5, 11)) + 0.8))
    for ring in country_outlines():
        ax.plot(ring[:, 0], ring[:, 1], color="0.55", lw=0.5, zorder=1)
    palette = colors or {}
    default = iter(["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"])
    size = float(np.clip(2000 / max(np.sqrt(lon.size), 1), 0.5, 12))
    for label in dict.fromkeys(groups.tolist()):
        sel = groups == label
        ax.scatter(
            lon[sel],
            lat[sel],
            s=size,
            c=palette.get(label) or next(default),
            label=f"{label} ({sel.sum():,})",
            lw=0,
            zorder=2,
        )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(1 / np.cos(np.radians((y0 + y1) / 2)))
    ax.grid(True, color="0.85", lw=0.5, zorder=0)
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower left", fontsize=8, markerscale=2, framealpha=0.9)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def season_preview(
    rgb: np.ndarray,
    times: np.ndarray,
    labels: list[str],
    low: np.ndarray,
    high: np.ndarray,
    path: str | Path,
    title: str,
) -> Path:
    """Grid of RGB patches: rows = samples, columns = seasons.

    ``rgb``: (n, seasons, 3, H, W) DN; each band stretched linearly from ``low`` to ``high``
    (e.g. the store's 2nd/98th percentiles), the same for every image so seasons compare.
    """
    n, s = rgb.shape[:2]
    fig, axes = plt.subplots(n, s, figsize=(2.0 * s + 1.4, 2.0 * n + 0.6), squeeze=False)
    scale = (np.asarray(high, float) - np.asarray(low, float)).clip(min=1)
    for i in range(n):
        for j in range(s):
            ax = axes[i, j]
            img = (rgb[i, j].astype(np.float32) - np.asarray(low, np.float32)[:, None, None]) / scale[
                :, None, None
            ].astype(np.float32)
            img = np.where(rgb[i, j] == 0, 0.0, img)  # no data stays black
            ax.imshow(np.clip(img.transpose(1, 2, 0), 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            when = str(np.asarray(times[i, j]).astype("datetime64[D]")) if not np.isnat(times[i, j]) else "—"
            ax.set_title(when, fontsize=7, pad=2)
            if j == 0:
                ax.set_ylabel(labels[i], fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
