"""Fixtures of the source tests: the offline STAC server (one per module)."""

from __future__ import annotations

import pytest

from tests.collector.sources.stac_cases import offline_stac


@pytest.fixture(scope="module")
def server():
    """One server per module; the COGs are written once (≈ 1 s)."""
    srv = offline_stac()
    yield srv
    srv.close()


@pytest.fixture
def stac(server):
    server.reset()
    yield server
    server.reset()
