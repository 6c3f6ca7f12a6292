from pathlib import Path

import numpy as np
import pytest

from shared.testing import make_store, pixel_value
from trainer.data import BatchSource, StepPlan, valid_samples


@pytest.fixture
def store(tmp_path):
    from shared.access.stats import compute_stats

    st = make_store(tmp_path / "s.zarr", n_samples=24, size=24, shard_samples=4)
    from shared.store.handle import open_store

    s = open_store(st.location, "r+")
    s.update_attrs(stats=compute_stats(s))
    return st


def plan(samples, **kw):
    args = dict(samples=samples, store_seasons=4, seasons=3, batch=8, seed=1)
    return StepPlan(**{**args, **kw})


def test_steps_are_pure_functions_of_the_step():
    p = plan(np.arange(24))
    assert p.steps_per_epoch == 3
    a, sa = p.step(4)
    b, sb = plan(np.arange(24)).step(4)
    assert np.array_equal(a, b) and np.array_equal(sa, sb)
    # one epoch covers every sample once
    epoch = np.concatenate([p.step(s)[0] for s in range(3)])
    assert sorted(epoch.tolist()) == list(range(24))
    # the next epoch is another permutation
    assert not np.array_equal(np.concatenate([p.step(s)[0] for s in range(3, 6)]), epoch)


def test_seasons_distinct_unless_asked():
    p = plan(np.arange(24))
    for s in range(6):
        _, seasons = p.step(s)
        assert all(len(set(row)) == 3 for row in seasons.tolist())
    repl = plan(np.arange(24), with_replacement=True)
    rows = np.concatenate([repl.step(s)[1] for s in range(30)])
    assert any(len(set(r)) < 3 for r in rows.tolist())
    with pytest.raises(ValueError, match="distinct seasons"):
        plan(np.arange(24), seasons=5)


def test_processes_split_each_global_batch():
    full = plan(np.arange(24)).step(2)[0]
    parts = [plan(np.arange(24), rank=r, world=2).step(2)[0] for r in range(2)]
    assert sorted(np.concatenate(parts).tolist()) == sorted(full.tolist())
    assert not set(parts[0]) & set(parts[1])
    with pytest.raises(ValueError, match="divisible"):
        plan(np.arange(24), world=3)


def test_batch_source_reads_the_planned_pixels(store):
    samples, seasons = valid_samples(store.location)
    p = plan(samples, store_seasons=seasons)
    src = BatchSource(store.location, ("B4", "B3"), p, first_step=2, last_step=5)
    assert len(src) == 3
    item = src[1]  # step 3
    idx, sea = p.step(3)
    assert int(item["step"]) == 3 and item["pixels"].shape == (8, 3, 2, 24, 24)
    expect = pixel_value(*np.ix_(idx, np.arange(4), [3, 2], np.arange(24), np.arange(24)))
    got = item["pixels"].numpy()
    for i in range(8):
        np.testing.assert_array_equal(got[i], expect[i, sea[i]])


def test_corrupt_sample_is_skipped_and_counted(store):
    shard_file = Path(store.location) / "pixels_60m" / "c" / "1" / "0" / "0" / "0" / "0"
    raw = bytearray(shard_file.read_bytes())
    raw[30] ^= 0xFF  # damages the first image of sample 4
    shard_file.write_bytes(bytes(raw))
    samples, seasons = valid_samples(store.location)
    p = plan(samples, store_seasons=seasons)

    def reads_damaged(step):  # sample 4, season 0, band B1: the first image of shard 1
        idx, sea = p.step(step)
        return 4 in idx and 0 in sea[list(idx).index(4)]

    step = next(s for s in range(60) if reads_damaged(s))
    item = BatchSource(store.location, ("B1",), p, first_step=step, last_step=step + 1)[0]
    assert int(item["skipped"]) == 1
    assert item["pixels_60m"].shape[0] == 7 and 4 not in item["samples"].tolist()


def test_13_band_batches_travel_at_native_resolution_and_meet_on_the_device(store):
    """A 13-band batch carries each group as stored (far fewer bytes than 13 bands at 10 m);
    ``to_grid`` brings it to one grid, 20/60 m upsampled once, before any crop."""
    import torch

    from shared.layout.bands import band_names
    from shared.store.reader import StoreReader
    from trainer.data import read_batch
    from trainer.grid import to_grid

    bands = band_names("L1C")
    samples, seasons = valid_samples(store.location)
    p = plan(samples, store_seasons=seasons)
    item = BatchSource(store.location, bands, p, first_step=0, last_step=1)[0]
    assert "pixels" not in item
    shapes = {k: tuple(v.shape) for k, v in item.items() if k.startswith("pixels_")}
    assert shapes == {
        "pixels_10m": (8, 3, 4, 24, 24),
        "pixels_20m": (8, 3, 6, 12, 12),
        "pixels_60m": (8, 3, 3, 4, 4),
    }
    native_bytes = sum(item[k].numpy().nbytes for k in shapes)
    assert native_bytes <= 0.5 * 8 * 3 * 13 * 24 * 24 * 2  # ≤ half of the 10 m grid
    batch = {k: v for k, v in item.items() if k.startswith("pixels_")}
    as_float = lambda x, _names: x.to(torch.float32)  # noqa: E731
    nearest = to_grid(batch, bands, as_float, mode="nearest")
    idx, sea = p.step(0)
    reader = StoreReader(store.location)
    want = reader.pixels(idx, seasons=sea, bands=bands)  # nearest blocks on the host
    np.testing.assert_array_equal(nearest.numpy(), want.astype(np.float32))
    smooth = to_grid(batch, bands, as_float)  # bilinear (the training default)
    b5 = bands.index("B5")
    ref = torch.nn.functional.interpolate(
        batch["pixels_20m"][:, :, 0].to(torch.float32),
        size=(24, 24),
        mode="bilinear",
        align_corners=False,
    )
    torch.testing.assert_close(smooth[:, :, b5], ref)
    torch.testing.assert_close(smooth[:, :, 3], nearest[:, :, 3])  # B4: 10 m, untouched
    # a 10 m-only batch stays one array, read as before
    rgb = read_batch(reader, idx, sea, ("B4", "B3", "B2"))
    assert list(rgb) == ["pixels"] and rgb["pixels"].shape == (8, 3, 3, 24, 24)
