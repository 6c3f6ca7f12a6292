"""Benchmarks write the tracked ``docs/benchmarks.*`` only when asked (``--record``)."""

from __future__ import annotations

import hashlib

import pytest

from tools import record as rec


def _docs_state() -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(rec.DOCS.glob("benchmarks.*"))
    }


def test_record_without_the_flag_prints_and_leaves_docs_alone(capsys, monkeypatch):
    monkeypatch.setitem(rec._RECORDING, "on", False)
    before = _docs_state()
    assert rec.record("x_test", "Test", "cmd", {"x_test.v": 1}, [("what", "1 s")]) is None
    assert _docs_state() == before
    out = capsys.readouterr().out
    assert "what: 1 s" in out and "pass --record" in out


def test_record_writes_where_asked(tmp_path, monkeypatch):
    monkeypatch.setitem(rec._RECORDING, "on", False)
    path = rec.record("x_test", "Test", "cmd", {"x_test.v": 1}, [("w", "v")], docs=tmp_path)
    assert path == tmp_path / "benchmarks.json"
    assert "| w | v |" in (tmp_path / "benchmarks.md").read_text()
    monkeypatch.setattr(rec, "DOCS", tmp_path / "docs")
    rec.set_recording(True)
    try:
        assert (
            rec.record("y", "Y", "cmd", {}, [("a", "b")]) == tmp_path / "docs" / "benchmarks.json"
        )
    finally:
        rec.set_recording(False)


@pytest.mark.parametrize("module", ["collector_bench", "import_bench", "trainer_bench"])
def test_every_bench_takes_record(module, capsys):
    import importlib

    mod = importlib.import_module(f"tools.{module}")
    argv = ["plan", "--help"] if module == "collector_bench" else ["--help"]
    with pytest.raises(SystemExit):
        if module == "trainer_bench":
            mod.build_parser().parse_args(argv)
        else:
            mod.main(argv)
    assert "--record" in capsys.readouterr().out
