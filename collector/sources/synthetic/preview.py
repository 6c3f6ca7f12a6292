"""A picture of the synthetic world: RGB patches of several places through the seasons.

``python -m collector.sources.synthetic.preview [OUT.png]`` writes a grid with one row per
location (from the tropics to the high north and the southern hemisphere) and one column per
season, each the least cloudy scene of its window (cloudy ones included: the picture shows
the world as a source sees it).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from collector.plan.pictures import true_colour
from collector.sources.base import Location, Scene
from collector.sources.synthetic.sites import make_locations
from collector.sources.synthetic.source import SyntheticSource
from shared.layout.native import BandImages

__all__ = [
    "PREVIEW_SITES",
    "rgb_image",
    "preview_figure",
    "varied_location",
    "save_small_png",
    "main",
]

#: (label, lon, lat) of the default rows.
PREVIEW_SITES: tuple[tuple[str, float, float], ...] = (
    ("Lagos-like, 6° N", 3.4, 6.5),
    ("Cairo-like, 30° N", 31.2, 30.0),
    ("Bordeaux-like, 45° N", -0.6, 44.8),
    ("Warsaw-like, 52° N", 21.0, 52.2),
    ("Oulu-like, 65° N", 25.5, 65.0),
    ("Buenos Aires-like, 35° S", -58.4, -34.6),
)


def rgb_image(pixels: np.ndarray | BandImages, bands: Sequence[str]) -> np.ndarray:
    """(N, N, 3) floats in [0, 1] from one image's (B, N, N) DN (or native images): B4/B3/B2."""
    if isinstance(pixels, BandImages):
        return true_colour(np.stack([pixels.band(b) for b in ("B4", "B3", "B2")]))
    idx = [list(bands).index(b) for b in ("B4", "B3", "B2")]
    return true_colour(pixels[idx])


def _best(scenes: list[Scene]) -> Scene | None:
    return max(scenes, key=lambda s: (s.clear_fraction or 0.0, -s.cloud_percent), default=None)


def preview_figure(
    source: SyntheticSource,
    locations: Sequence[Location],
    labels: Sequence[str],
):  # -> matplotlib.figure.Figure
    """A figure of RGB patches, rows = locations, columns = seasons (blank if no scene)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_seasons = max(loc.n_seasons for loc in locations)
    fig, axes = plt.subplots(
        len(locations),
        n_seasons,
        figsize=(2.0 * n_seasons + 1.2, 2.0 * len(locations)),
        squeeze=False,
    )
    for r, (loc, label) in enumerate(zip(locations, labels, strict=True)):
        chosen = [_best(w) for w in source.search(loc)]
        present = [s for s in chosen if s is not None]
        patch = source.fetch(loc, present) if present else None
        k = 0
        for c, scene in enumerate(chosen):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if scene is None or patch is None:
                ax.set_facecolor("0.85")
                ax.text(0.5, 0.5, "no scene", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.imshow(rgb_image(patch.pixels[k], source.bands or ()), interpolation="nearest")
                ax.set_title(
                    f"{str(scene.time)[:10]}  clear {patch.clear_fractions()[k]:.2f}", fontsize=7
                )
                k += 1
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle(
        f"SYNTHETIC Sentinel-2 world ({source.collection}, seed {source.seed})", fontsize=10
    )
    fig.tight_layout()
    return fig


def varied_location(
    source: SyntheticSource,
    lon: float,
    lat: float,
    reference: np.datetime64,
    size: int,
    tries: int = 9,
) -> Location:
    """The most varied location (entropy of its class shares) among ``tries`` points on a 0.1°
    grid around ``lon, lat``: a preview row should show more than one land-cover class."""
    side = int(np.ceil(np.sqrt(tries)))
    steps = (np.arange(side) - (side - 1) / 2) * 0.1
    lons = (lon + np.repeat(steps, side))[:tries]
    lats = (lat + np.tile(steps, side))[:tries]
    candidates = make_locations(lons, lats, reference, size=size)

    def entropy(loc: Location) -> float:
        cover = np.bincount(source.landcover(loc, loc.windows[0][0]).ravel(), minlength=8) / size**2
        cover = cover[cover > 0]
        return float(-(cover * np.log(cover)).sum())

    return max(candidates, key=entropy)


def save_small_png(fig, path: Path, dpi: int = 90, colours: int = 256) -> None:
    """Save a figure as a palette PNG (``colours`` colours): a fraction of the RGB size."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format="png")
    buffer.seek(0)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT).save(
            path, optimize=True
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[0] if args else "docs/synthetic_preview.png")
    size = 192
    labels = [s[0] for s in PREVIEW_SITES]
    source = SyntheticSource(granule_cloud_max=100.0)
    reference = np.datetime64("2021-01-15")
    locations = [
        varied_location(source, lon, lat, reference, size) for _, lon, lat in PREVIEW_SITES
    ]
    fig = preview_figure(source, locations, labels)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_small_png(fig, out)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
