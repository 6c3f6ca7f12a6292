"""The one-way arrows: collector → shared, trainer → shared; shared stands alone."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("shared", "collector", "trainer")
FORBIDDEN = {
    "collector": {"trainer", "tools"},
    "trainer": {"collector", "tools"},
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
