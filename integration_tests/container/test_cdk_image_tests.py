"""The Airbyte CDK's standard image tests (`image_tests` marker) against the image built from this repo.

The suite runs the image with plain `docker run` (the engine's default bridge network, no --network host), so
the fake Zoho Desk listens on all interfaces for it and the scenario configs reach it at this machine's
address. Its acceptance-test-config.yml is written here: one good config under every section, and one with a
wrong client secret whose `check` must fail.
"""

from __future__ import annotations

import atexit
import json
import shutil
import socket
import tempfile
from pathlib import Path

import pytest
import yaml
from airbyte_cdk.test.standard_tests.docker_base import DockerConnectorTestSuite
from airbyte_cdk.test.standard_tests.pytest_hooks import pytest_generate_tests  # noqa: F401  (parametrizes `scenario`)

from integration_tests.container.conftest import ROOT
from integration_tests.fake_zoho.server import FakeZohoServer
from integration_tests.fake_zoho.state import FakeZoho

# The suite reads acceptance-test-config.yml and metadata.yaml from its connector root at collection time;
# this one is a scratch folder so the repo root keeps no test-only file.
SUITE_ROOT = Path(tempfile.mkdtemp(prefix="zoho-cdk-image-tests-"))
atexit.register(shutil.rmtree, SUITE_ROOT, ignore_errors=True)
shutil.copy(ROOT / "metadata.yaml", SUITE_ROOT / "metadata.yaml")
(SUITE_ROOT / "configs").mkdir()
(SUITE_ROOT / "acceptance-test-config.yml").write_text(
    yaml.safe_dump(
        {
            "connector_image": "source-zoho-desk/source-zoho-desk:dev-latest",
            "acceptance_tests": {
                "spec": {"tests": [{"config_path": "configs/config.json"}]},
                "connection": {
                    "tests": [
                        {"config_path": "configs/config.json", "status": "succeed"},
                        {"config_path": "configs/invalid_config.json", "status": "failed"},
                    ]
                },
                "discovery": {"tests": [{"config_path": "configs/config.json"}]},
                "basic_read": {"tests": [{"config_path": "configs/config.json"}]},
            },
        }
    )
)


def address_containers_reach() -> str:
    """This machine's address on its default route: containers on a bridge network reach the host there."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.254.254.254", 9))  # UDP connect sends nothing; it only picks the source address
            return probe.getsockname()[0]
    except OSError:  # no default route: any non-loopback address of this host will do
        address = socket.gethostbyname(socket.gethostname())
        assert not address.startswith("127."), "this host has no address that containers can reach"
        return address


@pytest.fixture(scope="module", autouse=True)
def fake_zoho_for_the_suite(docker_client):
    fake = FakeZoho()
    fake.configure(token_rate_limit=False)
    server = FakeZohoServer(fake, host="0.0.0.0").start()
    try:
        base = f"http://{address_containers_reach()}:{server.port}"
        config = server.config(api_url=base + "/api/v1", accounts_url=base)
        (SUITE_ROOT / "configs" / "config.json").write_text(json.dumps(config))
        invalid = {**config, "credentials": {**config["credentials"], "client_secret": "wrong-secret"}}
        (SUITE_ROOT / "configs" / "invalid_config.json").write_text(json.dumps(invalid))
        yield server
    finally:
        server.stop()


@pytest.fixture
def connector_image_override(image) -> str:
    """The suite runs the image built by the `image` fixture (it cannot build one itself offline)."""
    return image


@pytest.fixture
def connector_base_image_override() -> None:
    return None


@pytest.fixture
def read_from_streams() -> str:
    return "all"


@pytest.fixture
def read_scenarios() -> str:
    return "default"


class TestAirbyteStandardImageTests(DockerConnectorTestSuite):
    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return SUITE_ROOT

    @pytest.mark.skip(
        reason="compares against the spec Airbyte's public registry publishes for this dockerRepository; "
        "this connector is not published there (and CI has no route to it)"
    )
    def test_docker_image_spec_backward_compatibility(self) -> None:
        raise AssertionError("skipped")
