"""Every code block of the README is executed: blocks marked ``<!-- doctest: check … -->``
(they need the network, a GPU, an account, a downloaded dataset or hours) have their shell
syntax checked and every command's flags parsed by the command's own parser (``make`` lines
through ``make -n``); every other block runs, in a scratch folder where the paths it names
(``datasets/demo.zarr`` …) are a small fixture store.

Marks: an HTML comment on the line before the opening fence, ``<!-- doctest: check why -->``
or ``<!-- doctest: run -->`` (the default). About 1 min on 2 busy cores.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")
MARK = re.compile(r"^<!--\s*doctest:\s*(run|check)\b(.*?)-->\s*$")
#: stores the runnable blocks name, all made from one small fixture
STORES = ("datasets/demo.zarr", "datasets/eu.zarr", "datasets/old.zarr")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    mode: str  # run | check
    why: str
    text: str

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.lang}:{self.mode}"


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text with their marks."""
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or not m.group(1):
            i += 1
            continue
        start, lang = i, m.group(1)
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        prev = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        mark = MARK.match(prev.strip())
        mode, why = (mark.group(1), mark.group(2).strip()) if mark else ("run", "")
        out.append(Block(start + 1, lang, mode, why, "\n".join(lines[start + 1 : j])))
        i = j + 1
    return out


BLOCKS = blocks(README.read_text())


def commands(script: str) -> list[list[str]]:
    """Shell commands of a script as argument lists (continuations joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", " ", script)
    out = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            out.append(words)
    return out


def _parser(module: str):  # -> argparse.ArgumentParser | None
    if module == "collector":
        from collector.cli import build_parser
    elif module == "trainer":
        from trainer.cli import build_parser
    elif module == "shared":
        from shared.cli import build_parser
    elif module == "trainer.evaluate.paper_table":
        from trainer.evaluate.paper_table import build_parser
    else:
        return None
    return build_parser()


def check_flags(words: list[str], where: str) -> None:
    """Parse one command line's arguments with its command's parser (no execution)."""
    if "-m" not in words:
        return
    k = words.index("-m")
    module, args = words[k + 1], words[k + 2 :]
    stop = next((i for i, w in enumerate(args) if w in ("||", "&&", ";", "|")), len(args))
    args = args[:stop]
    if any("$" in w for w in args):  # a shell loop variable: not checkable statically
        return
    parser = _parser(module)
    if parser is None:
        return
    try:
        parser.parse_args(args)
    except SystemExit as e:
        pytest.fail(f"{where}: python -m {module} {shlex.join(args)}: bad flags (exit {e.code})")


def make_commands(words: list[str], tmp: Path) -> list[list[str]]:
    """The commands ``make`` would run for a README ``make`` line (``make -n``)."""
    (tmp / "pyproject.toml").touch()
    stamp = tmp / "stamp"
    stamp.touch()
    # Run as a top-level make even under ``make test``: an inherited MAKELEVEL makes sub-makes
    # print "Entering/Leaving directory" lines into the dry-run output.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    argv = ["make", "-n", "--no-print-directory", "-f", str(REPO / "Makefile"), "PY=python"]
    proc = subprocess.run(
        [*argv, f"STAMP={stamp}", *words[1:]],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"{shlex.join(words)}: {proc.stderr.strip()}"
    return commands(proc.stdout)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_readme_block(block: Block, tmp_path: Path, fixture_store: Path) -> None:
    if block.lang not in ("bash", "python"):
        pytest.skip(f"{block.lang} blocks are not code")
    if block.lang == "python":
        compile(block.text, block.id, "exec")
    else:
        syntax = subprocess.run(["bash", "-n"], input=block.text, capture_output=True, text=True)
        assert syntax.returncode == 0, f"{block.id}: {syntax.stderr}"
    if block.mode == "check":
        if block.lang == "bash":
            for words in commands(block.text):
                if words[0] == "make" and shutil.which("make"):
                    for cmd in make_commands(words, tmp_path):
                        check_flags(cmd, f"{block.id} ({shlex.join(words)})")
                else:
                    check_flags(words, block.id)
        return
    _run(block, tmp_path, fixture_store)


def _run(block: Block, cwd: Path, store: Path) -> None:
    for name in STORES:
        shutil.copytree(store, cwd / name)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "MPLBACKEND": "Agg",
    }
    if block.lang == "python":
        argv = [sys.executable, "-c", block.text]
    else:
        argv = ["bash", "-euo", "pipefail", "-c", block.text]
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{block.id} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def fixture_store(tmp_path_factory) -> Path:
    """A small finished synthetic collection standing in for every store the README names."""
    from collector.cli import main

    out = tmp_path_factory.mktemp("readme") / "demo.zarr"
    argv = ["collect", "--recipe", "demo", "--n", "12", "--size", "36", "--shard-samples", "4"]
    argv += ["--no-progress", "--scheduler", "threads", "--workers", "1", "--out", str(out)]
    assert main(argv) == 0
    return out


def test_marks_are_recognised() -> None:
    text = "x\n<!-- doctest: check needs Earth Engine -->\n```bash\nmake collect\n```\n"
    (b,) = blocks(text)
    assert (b.mode, b.why, b.text, b.line) == ("check", "needs Earth Engine", "make collect", 3)
    assert blocks("```python\nprint(1)\n```\n")[0].mode == "run"


def test_check_mode_catches_a_wrong_flag(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="bad flags"):
        check_flags(["python", "-m", "collector", "collect", "--n", "4", "--colour"], "x")
    check_flags(["python", "-m", "collector", "collect", "--n", "4", "--out", "x"], "x")
    if shutil.which("make"):
        words = shlex.split("make pretrain STORE=s.zarr SIZE=64 STEPS=5")
        (cmd,) = [c for c in make_commands(words, tmp_path) if "-m" in c]
        assert cmd[cmd.index("--size") + 1] == "64"
        check_flags(cmd, "make pretrain")


def test_every_published_file_the_readme_uses_says_where_to_get_it() -> None:
    text = README.read_text()
    used = set(re.findall(r"\b(seco_resnet\w+\.ckpt|resnet\d+_sentinel2_\w+\.pth)", text))
    start = text.index("**Where to download weights and data")
    table = "\n".join(
        line
        for line in text[start:].splitlines()[:40]
        if line.startswith("| ") and not line.startswith(("| file", "|---"))
    )
    assert "seco_resnet18_1m.ckpt" in used and table
    for name in used:
        stem = name.split("-")[0].removesuffix(".pth")
        assert stem in table, f"the README uses {name} but does not say where to download it"
    for line in table.splitlines():
        checksum = line.rstrip(" |").rsplit("|", 1)[-1]
        assert "not published" in checksum or re.search(r"`[0-9a-f]{8,32}`", checksum), line
