"""Shared fixtures for unit tests: a valid raw config and a stream context built from it."""

from __future__ import annotations

from typing import Any

import pytest

API = "https://desk.example.test/api/v1"
ACCOUNTS = "https://accounts.example.test"
TOKEN_URL = f"{ACCOUNTS}/oauth/v2/token"


@pytest.fixture
def raw_config() -> dict[str, Any]:
    return {
        "data_center": "US",
        "org_id": "700000001",
        "credentials": {"client_id": "1000.CLIENT", "client_secret": "s3cret", "refresh_token": "1000.refresh"},
        "api_url": API,
        "accounts_url": ACCOUNTS,
        "page_size": 3,
    }
