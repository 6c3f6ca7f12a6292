"""Callers ask a plug-in's record, never compare its name: no source, objective or task name
is compared as a string outside its registry (``==``/``!=`` against the name, or ``in`` a
literal collection of names)."""

from __future__ import annotations

import ast
from pathlib import Path

from collector.sources import SOURCES
from tests.conftest import ROOT
from trainer.evaluate.tasks import TASKS
from trainer.objectives import OBJECTIVES

NAMES = set(SOURCES) | set(OBJECTIVES) | set(TASKS)
PACKAGES = ("shared", "collector", "trainer", "tools")
#: the registries themselves, where the names are defined
REGISTRIES = {"collector/sources/__init__.py", "trainer/objectives.py", "trainer/evaluate/tasks.py"}


def _names(node: ast.expr) -> set[str]:
    """The plug-in names a literal stands for: a string, or a tuple/list/set of strings."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value} & NAMES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return set().union(*(_names(e) for e in node.elts)) if node.elts else set()
    return set()


def name_comparisons(source: str) -> list[tuple[int, str]]:
    """``(line, name)`` of every comparison of a plug-in name in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.Eq | ast.NotEq):
                names = _names(left) | _names(right)
            elif isinstance(op, ast.In | ast.NotIn) and not isinstance(right, ast.Constant):
                names = _names(right)  # `x in ("a", "b")`; `"seco" in filename` is a substring
            else:
                names = set()
            found += [(node.lineno, n) for n in sorted(names)]
            left = right
    return found


def test_the_scanner_sees_each_form():
    code = 'a == "seco"\n"stac" != b\nc in ("synthetic", "emulated")\n"seco" in path.name\n'
    assert name_comparisons(code) == [(1, "seco"), (2, "stac"), (3, "emulated"), (3, "synthetic")]


def test_no_plug_in_name_is_compared_outside_its_registry():
    offending = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            if rel in REGISTRIES:
                continue
            hits = name_comparisons(Path(path).read_text())
            if hits:
                offending[rel] = hits
    assert not offending, f"ask the record instead: {offending}"
