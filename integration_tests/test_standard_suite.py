"""The Airbyte CDK's standard source tests (spec, check, discover, basic read, bad catalog), in-process,
against one fake Zoho Desk started for this module; scenarios come from integration_tests/acceptance-test-config.yml."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from integration_tests.conftest import realistic_activity_times
from integration_tests.fake_zoho.server import FakeZohoServer
from integration_tests.fake_zoho.state import FakeZoho
from source_zoho_desk.source import SourceZohoDesk

HERE = Path(__file__).resolve().parent
ACCEPTANCE_TEST_CONFIG = HERE / "acceptance-test-config.yml"
# The scenario configs name this run's port, so each test process writes its own (gitignored) copy: several
# suites may run in this work tree at once. Config paths in the YAML resolve against this folder.
RUN_ROOT = HERE / "acceptance" / f"run-{os.getpid()}" / "source-zoho-desk"
atexit.register(shutil.rmtree, RUN_ROOT.parent, ignore_errors=True)


def conform_to_the_oas(fake: FakeZoho) -> None:
    """The fake fills tasks/calls/events `modifiedBy` (an object in its own OAS) with a bare agent id; give
    those records the OAS shape through the fake's mutation API so the strict schema check judges the
    connector, not the fake."""
    for stream in ("tasks", "calls", "events"):
        for record in fake.data.page(stream, 0, fake.data.total(stream)):
            if isinstance(record.get("modifiedBy"), str):
                fake.update(stream, record["id"], modifiedBy={"id": record["modifiedBy"]})


# The command each standard test runs. A scenario only runs the commands of the sections that list its
# config, so each test is parametrized with those scenarios alone instead of collecting a skip for every
# other one (a test unknown here gets every scenario, as the CDK's own hook does).
COMMAND_OF_TEST = {
    "test_config_matches_spec": "spec",
    "test_check": "check",
    "test_discover": "discover",
    "test_basic_read": "read",
    "test_fail_read_with_bad_catalog": "read",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scenario" not in metafunc.fixturenames or metafunc.cls is None:
        return
    command = COMMAND_OF_TEST.get(metafunc.function.__name__)
    scenarios = [s for s in metafunc.cls.get_scenarios() if command is None or s.runs(command)]
    metafunc.parametrize("scenario", scenarios, ids=[s.id for s in scenarios])


@pytest.fixture(scope="module", autouse=True)
def fake_zoho_and_scenario_configs() -> Iterator[FakeZohoServer]:
    """Start the fake once, then write every config acceptance-test-config.yml names (read at run time)."""
    fake = FakeZoho()
    # Every test of the suite is its own connector process, each minting an access token: more than
    # Zoho's 10 per refresh token per 10 minutes, which is not what this suite is about.
    fake.configure(token_rate_limit=False)
    conform_to_the_oas(fake)
    realistic_activity_times(fake)
    server = FakeZohoServer(fake)
    # TCP_NODELAY on the listening socket (inherited on Linux): without it every kept-alive response
    # waits ~40 ms for a delayed ACK (the fake binds with proto 0, so asyncio never sets it).
    server.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    server.start()
    try:
        (RUN_ROOT / "acceptance").mkdir(parents=True, exist_ok=True)
        config = server.config()
        configs = {
            "config": config,
            "wrong_client_secret": {**config, "credentials": {**config["credentials"], "client_secret": "wrong"}},
            "wrong_org_id": {**config, "org_id": "987654321"},
            "small_pages": {**config, "page_size": 7},
        }
        for name, content in configs.items():
            (RUN_ROOT / "acceptance" / f"{name}.json").write_text(json.dumps(content, indent=2))
        yield server
    finally:
        server.stop()


class TestSourceZohoDesk(SourceTestSuiteBase):
    # The suite would derive the class from the connector folder's name; name it instead.
    connector = SourceZohoDesk
    # Root detection would pick integration_tests/ (the first folder up holding acceptance-test-config.yml)
    # and resolve the config paths there, shared by every concurrent run; the YAML is read from there, the
    # config paths resolve against this process's own folder.
    acceptance_test_config = yaml.safe_load(ACCEPTANCE_TEST_CONFIG.read_text())

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return RUN_ROOT

    # The image tests (`image_tests` marker) build and run the container; they belong to the container
    # suite (integration_tests/container/test_cdk_image_tests.py), which runs them against the image it
    # builds. Removing them here keeps this in-process suite from building images.
    test_docker_image_build_and_spec = None
    test_docker_image_spec_backward_compatibility = None
    test_docker_image_build_and_check = None
    test_docker_image_build_and_config_matches_spec = None
    test_docker_image_build_and_discover = None
    test_docker_image_build_and_read = None
