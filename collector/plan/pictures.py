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

__all__ = ["country_outlines", "location_map", "season_preview", "true_colour"]


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


def true_colour(rgb: np.ndarray, white_reflectance: float = 0.3, gamma: float = 1.3) -> np.ndarray:
    """(…, 3, H, W) DN → (…, H, W, 3) floats in [0, 1]: the usual Sentinel-2 true-colour look.

    Reflectance ``white_reflectance`` is shown white (snow and clouds saturate, as in every
    true-colour product); a mild gamma lifts dark ground. One fixed scale for every image, so
    seasons and locations compare. No-data pixels (DN 0) stay black.
    """
    img = np.asarray(rgb, np.float32) * np.float32(1e-4 / white_reflectance)
    img = np.clip(img, 0, 1) ** np.float32(1 / gamma)
    return np.moveaxis(img, -3, -1)


def season_preview(
    rgb: np.ndarray,
    times: np.ndarray,
    labels: list[str],
    path: str | Path,
    title: str,
) -> Path:
    """Grid of true-colour patches: rows = samples, columns = seasons.

    ``rgb``: (n, seasons, 3, H, W) DN of B4, B3, B2; ``times``: (n, seasons) datetime64.
    """
    n, s = rgb.shape[:2]
    fig, axes = plt.subplots(n, s, figsize=(2.0 * s + 1.4, 2.0 * n + 0.6), squeeze=False)
    images = true_colour(rgb)
    for i in range(n):
        for j in range(s):
            ax = axes[i, j]
            ax.imshow(images[i, j], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            when = (
                str(np.asarray(times[i, j]).astype("datetime64[D]"))
                if not np.isnat(times[i, j])
                else "—"
            )
            ax.set_title(when, fontsize=7, pad=2)
            if j == 0:
                ax.set_ylabel(labels[i], fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
