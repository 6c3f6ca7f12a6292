"""The make wrappers: every variable reaches the program as one argument, never as code, and
``make help`` names every target and the settings the README points to."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAKEFILE = REPO / "Makefile"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

HOSTILE = [
    'x"; touch M; echo "',
    "a`touch M`b",
    "$(touch M)",
    "$(shell touch M)",
    "it's; touch M",
    "with space/and\nnewline",
    "${HOME}$$HOME\\",
]


def _make(tmp_path: Path, *args: str) -> list[list[str]]:
    """Run ``make`` in ``tmp_path`` with a fake Python that records its arguments; returns
    the argument lists of every program run."""
    log = tmp_path / "argv.jsonl"
    log.unlink(missing_ok=True)
    fake = tmp_path / "fake-python"
    fake.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    fake.chmod(0o755)
    (tmp_path / "pyproject.toml").touch()
    stamp = tmp_path / "stamp"
    stamp.touch()  # newer than pyproject.toml: "installed"
    proc = subprocess.run(
        ["make", "-s", "-f", str(MAKEFILE), f"PY={fake}", f"STAMP={stamp}", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "M").exists(), f"{args}: the shell ran code from a variable"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.mark.parametrize("value", HOSTILE)
def test_import_passes_data_out_and_format_as_one_argument(tmp_path: Path, value: str) -> None:
    (run,) = _make(tmp_path, "import", f"DATA={value}", f"FORMAT={value}", f"OUT={value}")
    assert run[:4] == ["-m", "collector", "import", value]
    assert run[4] == value and _after(run, "--out") == value


@pytest.mark.parametrize("value", HOSTILE)
def test_evaluate_and_pretrain_pass_paths_as_one_argument(tmp_path: Path, value: str) -> None:
    (ev,) = _make(tmp_path, "evaluate", f"DATA={value}", f"ENCODER={value}", f"EVAL_OUT={value}")
    assert _after(ev, "--data") == value and _after(ev, "--out") == value
    assert ev.count("--encoder") == 2 and _after(ev, "--encoder") == value
    (pre,) = _make(tmp_path, "pretrain", f"STORE={value}", f"RUN={value}")
    assert _after(pre, "--store") == value and _after(pre, "--out") == value


@pytest.mark.parametrize("value", HOSTILE[:4])
def test_collect_and_paper_table_pass_values_as_one_argument(tmp_path: Path, value: str) -> None:
    (run,) = _make(tmp_path, "collect", f"REGION={value}", f"OUT={value}", f"STAC={value}")
    assert f"--region={value}" in run and _after(run, "--out") == value
    assert _after(run, "--stac") == value
    (table,) = _make(tmp_path, "paper-table", f"DATA_ROOT={value}", "ENCODERS=a b")
    assert _after(table, "--data-root") == value
    assert [table[i + 1] for i, w in enumerate(table) if w == "--encoder"] == ["a", "b"]


def test_targets_expose_the_readme_settings(tmp_path: Path) -> None:
    (pre,) = _make(tmp_path, "pretrain", "SIZE=64", "STEPS=20")
    assert _after(pre, "--size") == "64" and _after(pre, "--steps") == "20"
    (pre,) = _make(tmp_path, "pretrain")  # the store's SIZE default is not the crop's
    assert "--size" not in pre and "--steps" not in pre
    (col,) = _make(tmp_path, "collect", "REPAIR=1", "TRUTH=1", "GRANULE_CLOUD=10", "SIZE=64")
    assert {"--repair", "--truth"} <= set(col) and _after(col, "--granule-cloud-max") == "10"
    (plan,) = _make(tmp_path, "plan", "SIZE=64", "N=10")
    # plan and collect with the same variables decide the same plan into the same folder
    shared = ["--region", "--n", "--seed", "--size", "--seasons"]
    (col,) = _make(tmp_path, "collect", "SIZE=64", "N=10")
    assert _after(plan, "--out") == _after(col, "--out")
    for flag in shared:
        assert [w for w in plan if w.startswith(flag)] == [w for w in col if w.startswith(flag)]
        if flag in plan:
            assert _after(plan, flag) == _after(col, flag)
    (ev,) = _make(tmp_path, "evaluate", "ENCODER=imagenet:resnet18")
    assert ev.count("--encoder") == 2 and "random:same" in ev and "--out" not in ev
    (ev,) = _make(tmp_path, "evaluate", "BASELINE=none")
    assert ev.count("--encoder") == 1


def test_help_lists_every_target_and_task(tmp_path: Path) -> None:
    text = subprocess.run(
        ["make", "-s", "-f", str(MAKEFILE), "help"], capture_output=True, text=True, check=True
    ).stdout
    targets = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE.read_text(), flags=re.M))
    targets |= {"bench-scale"}  # engineer A's target (python -m tools.scale_bench)
    missing = {t for t in targets if not re.search(rf"\b{re.escape(t)}\b", text)}
    assert not missing, f"make help does not name {sorted(missing)}"
    from trainer.evaluate.tasks import TASKS

    for task in TASKS:
        assert task in text
    for var in ("SIZE", "STEPS", "REPAIR", "TRUTH", "GRANULE_CLOUD", "EVAL_OUT", "BASELINE"):
        assert f"{var}=" in text
