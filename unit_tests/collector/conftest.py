"""Fixtures for the collector's unit tests: an app on a temporary data dir and a data source in it."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from source_zoho_desk.collector.app import create_app
from source_zoho_desk.collector.settings import Settings
from unit_tests.collector.collector_helpers import Src, make_source


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", public_base_url="https://collector.example", admin_token="adm1n")


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def src(settings, client) -> Src:
    return make_source(settings)
