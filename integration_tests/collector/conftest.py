"""Fixtures for the collector integration tests: a running collector subprocess on a fresh data dir."""

from __future__ import annotations

import pytest

from integration_tests.collector.collector_proc import CollectorProcess


@pytest.fixture
def collector(tmp_path):
    proc = CollectorProcess(tmp_path / "data").start()
    try:
        yield proc
    finally:
        proc.stop()
