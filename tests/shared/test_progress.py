"""Progress off a terminal: a line per 10 %, nothing for a phase of a moment."""

from __future__ import annotations

import io

from shared.progress import LineProgress, progress


def test_lines_per_ten_percent_when_not_a_terminal(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(LineProgress, "quiet_s", 0.0)
    bar = progress(50, "verify: decoding", "shard", file=out)
    assert isinstance(bar, LineProgress)
    for _ in range(50):
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10 and lines[0].startswith("verify: decoding: 10% (5/50 shard) in ")
    assert lines[-1].startswith("verify: decoding: 100% (50/50 shard)")


def test_quiet_for_a_short_phase_and_when_disabled():
    out = io.StringIO()
    with progress(10, "x", file=out) as bar:
        for _ in range(10):
            bar.update(1)
    off = progress(10, "y", enabled=False, file=out)
    off.update(10)
    off.close()
    assert out.getvalue() == ""


def test_verify_has_no_zarr_warnings_on_a_half_written_store(tmp_path, recwarn):
    from shared.checks.verify import verify
    from shared.testing import make_store

    make_store(tmp_path / "s.zarr", n_samples=10, shards=[0])
    (tmp_path / "s.zarr" / "zarr.json.1234.partial").write_bytes(b"{")  # a killed write
    report = verify(tmp_path / "s.zarr")
    assert not [w for w in recwarn if "Zarr" in w.category.__name__]
    assert any("zarr.json.1234.partial" in n for n in report.notes)
    assert not report.ok  # shards 1-2 are not done


def test_verify_reports_progress_off_a_terminal(tmp_path, monkeypatch, capsys):
    from shared.checks.verify import verify
    from shared.testing import make_store

    monkeypatch.setattr(LineProgress, "quiet_s", 0.0)
    make_store(tmp_path / "s.zarr", n_samples=40, shard_samples=4)
    assert verify(tmp_path / "s.zarr", progress=True).ok
    err = capsys.readouterr().err
    assert "verify: decoding: 100% (10/10 shard)" in err
    assert verify(tmp_path / "s.zarr").ok and capsys.readouterr().err == ""
