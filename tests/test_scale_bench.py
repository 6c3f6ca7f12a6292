"""The scale benchmark runs end to end at a tiny size (so it cannot rot between 1M runs)."""

from __future__ import annotations

import pytest

from tools.scale_bench import bench_scale


def test_scale_bench_small_store_is_sound(tmp_path):
    figures = bench_scale(160, tmp_path)
    assert figures["shards"] == 10
    assert figures["verify_quick_ok"] is True, figures.get("verify_quick_first_problem")
    assert figures["samples"] == 160  # every location written, none lost by the skeleton
    for key in ("job_build_s", "per_shard_overhead_s", "open_dataset_s", "info_s"):
        assert figures[key] >= 0


@pytest.mark.parametrize(
    "argv,words",
    [
        (["--locations", "0"], "expected at least 160 locations"),
        (["--locations", "ten"], "expected a whole number"),
        (["--locations", "500", "--small", "1000"], "--small 1000 is larger than --locations 500"),
    ],
)
def test_scale_bench_bad_sizes_are_one_line(argv, words, capsys):
    from tools.scale_bench import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and words in err and "\n" not in err
