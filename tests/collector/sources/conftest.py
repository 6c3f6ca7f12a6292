"""Fixtures of the source tests: the offline STAC server (one per module)."""

from __future__ import annotations

from contextlib import closing

import pytest

from tests.collector.sources.stac_cases import offline_stac


@pytest.fixture(scope="module")
def server():
    """One server per module; the COGs are written once (≈ 1 s)."""
    with closing(offline_stac()) as srv:
        yield srv


@pytest.fixture
def stac(server):
    server.reset()
    yield server
    server.reset()


@pytest.fixture(scope="module")
def ee_server():
    """One offline Earth Engine endpoint per module (the real client talks to it over HTTP)."""
    from collector.sources.earthengine.server import FakeEarthEngine

    with closing(FakeEarthEngine()) as srv:
        yield srv


@pytest.fixture
def fake_ee(ee_server, monkeypatch):
    """The endpoint, reset, with a service-account key (token endpoint: the server) and a
    project in the environment; ``ee`` is reset afterwards."""
    import json

    import ee

    ee_server.reset()
    monkeypatch.setenv("EE_SERVICE_ACCOUNT_KEY", json.dumps(ee_server.service_account_key()))
    monkeypatch.setenv("EE_PROJECT", "test-project")
    yield ee_server
    ee_server.reset()
    ee.Reset()
