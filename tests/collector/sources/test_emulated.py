import time

import numpy as np

from collector.sources.base import Source
from collector.sources.emulated import EmulatedSource
from tests.collector.fakes import location


def test_emulated_source_only_waits():
    src = EmulatedSource("L2A", latency_s=0.05)
    assert isinstance(src, Source) and src.synthetic and len(src.bands) == 12
    loc = location(3, seasons=3)
    start = time.perf_counter()
    found = src.search(loc)
    patch = src.fetch(loc, [w[0] for w in found])
    elapsed = time.perf_counter() - start
    assert 0.1 <= elapsed < 0.5  # two requests, each the latency and nothing more
    assert [len(w) for w in found] == [1, 1, 1]
    for (begin, end), window in zip(loc.windows, found, strict=True):
        assert (
            begin <= window[0].time.astype("datetime64[D]") < end
            and window[0].clear_fraction == 1.0
        )
    assert patch.pixels.shape == (3, 12, 8, 8) and np.all(patch.pixels == 1000)
    assert np.all(patch.clear_fractions() == 1.0)


def test_dry_run_refuses_a_bad_region(capsys):
    from collector.cli import main

    assert main(["collect", "--region", "XX", "--n", "5", "--dry-run", "--out", "/tmp/never"]) == 2
    assert "not a continent" in capsys.readouterr().err
