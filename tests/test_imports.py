"""The one-way arrows: collector → shared, trainer → shared; shared stands alone; inside each
package, one row per rule (:data:`RULES`); no import cycle between modules. Every import
counts: lazy ones inside functions and those under ``TYPE_CHECKING`` too."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("shared", "collector", "trainer", "tools")
FORBIDDEN = {
    "collector": {"trainer", "tools"},
    "trainer": {"collector", "tools"},
    "tools": set(),
    "shared": {
        "collector",
        "trainer",
        "tools",
        "torch",
        "ee",
        "dask",
        "distributed",
        "timm",
        "lightly",
    },
}


def imported_roots(path: Path) -> set[str]:
    """Top-level module names imported anywhere in a file (lazy imports inside functions too)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


#: foundation modules of shared any layer may use
BASE = (
    "shared.errors",
    "shared.secrets",
    "shared.validate",
    "shared.progress",
    "shared.net",
    "shared.outside",
)
#: (modules, what of the project they may import, why) — the first row whose prefix matches
#: a module applies; more specific rows come first
RULES: list[tuple[str, tuple[str, ...], str]] = [
    ("shared.errors", (), "the foundation imports nothing of the project"),
    ("shared.secrets", (), "the foundation imports nothing of the project"),
    ("shared.validate", ("shared.secrets",), "config checks redact what they print"),
    ("shared.progress", (), "the foundation imports nothing of the project"),
    ("shared.net", (), "the foundation imports nothing of the project"),
    ("shared.outside", ("shared.outside", "shared.errors"), "checked reading of outside files"),
    ("shared.layout", ("shared.layout", "shared.errors"), "the versioned contract stands alone"),
    ("shared.store", ("shared.store", "shared.layout", *BASE), "a store knows only its layout"),
    ("shared.access", ("shared.access", "shared.store", "shared.layout", *BASE), "readers"),
    ("shared.checks", ("shared.checks", "shared.store", "shared.layout", *BASE), "checks"),
    (
        "shared.publish",
        ("shared.publish", "shared.access", "shared.store", "shared.layout", *BASE),
        "publishing reads through access",
    ),
    ("shared", ("shared",), "shared stands alone"),
    ("collector.plan", ("collector.plan", "shared"), "the plan needs no source, run or config"),
    (
        "collector.sources",
        ("collector.sources", "collector.plan", "shared"),
        "a source never imports the run machinery",
    ),
    (
        "collector.importers",
        ("collector.importers", "collector.plan", "collector.run", "shared"),
        "importers reuse the run's ledger and lock, never a network source",
    ),
    (
        "collector.run",
        ("collector.run", "collector.plan", "collector.sources", "collector.config", "shared"),
        "the run never imports the command line",
    ),
    ("collector", ("collector", "shared"), "collector → shared, never trainer"),
    ("trainer", ("trainer", "shared"), "trainer → shared, never collector"),
    ("tools", ("tools", "shared", "collector", "trainer"), "tools may use anything"),
]


def project_modules() -> dict[str, Path]:
    """``{dotted name: file}`` of every module of the packages (a package is its __init__)."""
    mods = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join(parts)] = path
    return mods


def module_imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its file (a name imported from a
    package counts as its submodule where one exists, else as the package)."""

    def known(dotted: str) -> str | None:
        while dotted and dotted not in mods:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    out: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out |= {known(a.name) for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                here = here[: len(here) - node.level + 1]
                base = ".".join(here + ([node.module] if node.module else []))
            out |= {known(f"{base}.{a.name}") or known(base) for a in node.names}
    return {m for m in out if m and m != name}


def import_graph() -> dict[str, set[str]]:
    mods = project_modules()
    return {name: module_imports(name, path, mods) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_detector_finds_a_cycle_through_three_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, f"import cycles: {found}"


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def rule_for(module: str) -> tuple[str, tuple[str, ...], str]:
    return next(r for r in RULES if _within(module, r[0]))


@pytest.mark.parametrize("rule", RULES, ids=[r[0] for r in RULES])
def test_package_rule(rule):
    graph = import_graph()
    prefix, allowed, why = rule
    governed = [m for m in graph if rule_for(m) is rule]
    assert governed, f"no module under {prefix}: a stale rule"
    offending = {
        m: sorted(t for t in graph[m] if not any(_within(t, a) for a in allowed)) for m in governed
    }
    offending = {m: bad for m, bad in offending.items() if bad}
    assert not offending, f"{prefix} ({why}): {offending}"


def test_tools_imported_by_nobody():
    graph = import_graph()
    users = {
        m
        for m, targets in graph.items()
        if not _within(m, "tools") and any(_within(t, "tools") for t in targets)
    }
    assert not users


@pytest.mark.parametrize("package", PACKAGES)
def test_import_arrows(package):
    offending = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_roots(path) & FORBIDDEN[package]
        if bad:
            offending[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offending, f"forbidden imports: {offending}"


def test_shared_works_without_torch_ee_dask(tiny_store):
    """Block the heavy modules, then import all of shared and read a store with it."""
    script = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        BLOCKED = ("torch", "ee", "dask", "distributed", "timm", "lightly", "rasterio", "geopandas")
        from importlib.machinery import PathFinder
        class AbsentFinder(PathFinder):
            # finds modules as usual, except the blocked ones, which look not installed
            @classmethod
            def find_spec(cls, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    return None
                return PathFinder.find_spec(name, path, target)
        sys.meta_path[sys.meta_path.index(PathFinder)] = AbsentFinder
        import shared
        for m in pkgutil.walk_packages(shared.__path__, "shared."):
            if m.name != "shared.__main__":
                importlib.import_module(m.name)
        from shared.store.reader import StoreReader
        from shared.checks.verify import verify
        from shared.access.view import open_dataset
        loc = {str(tiny_store.location)!r}
        assert verify(loc).ok
        assert StoreReader(loc).pixels([0]).shape == (1, 4, 13, 24, 24)
        assert open_dataset(loc).sizes["sample"] == 10
        assert not any(k.split(".")[0] in BLOCKED for k in sys.modules)
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
