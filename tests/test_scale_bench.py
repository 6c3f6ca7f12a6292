"""The scale benchmark runs end to end at a tiny size (so it cannot rot between 1M runs)."""

from __future__ import annotations

from tools.scale_bench import bench_scale


def test_scale_bench_small_store_is_sound(tmp_path):
    figures = bench_scale(160, tmp_path)
    assert figures["shards"] == 10
    assert figures["verify_quick_ok"] is True, figures.get("verify_quick_first_problem")
    assert figures["samples"] == 160  # every location written, none lost by the skeleton
    for key in ("job_build_s", "per_shard_overhead_s", "open_dataset_s", "info_s"):
        assert figures[key] >= 0
