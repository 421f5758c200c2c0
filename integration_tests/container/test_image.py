"""The built image, run by a real engine: its labels and config, and `spec` equal to the package's own."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from integration_tests.container.conftest import IMAGE_REPOSITORY, METADATA, ROOT, messages, run_container


def test_image_config_follows_airbyte_conventions(docker_client, image):
    attrs = docker_client.images.get(image).attrs
    config = attrs["Config"]
    labels = config["Labels"]
    assert labels["io.airbyte.name"] == IMAGE_REPOSITORY == METADATA["dockerRepository"]
    assert labels["io.airbyte.version"] == METADATA["dockerImageTag"]
    assert config["Entrypoint"] == ["source-zoho-desk"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["AIRBYTE_ENTRYPOINT"] == "source-zoho-desk"
    assert config["User"] not in ("", "root", "0")
    assert "8080/tcp" in config["ExposedPorts"]
    assert "/data" in config["Volumes"]


def test_docker_cli_sees_the_same_image_and_runs_it(image):
    """The plain docker CLI (as the Airbyte platform and the CDK's image tests use it) against the same engine."""
    inspected = json.loads(
        subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True, check=True).stdout
    )
    assert inspected[0]["Config"]["Labels"]["io.airbyte.version"] == METADATA["dockerImageTag"]
    ran = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "id", image, "-u"], capture_output=True, text=True, check=True
    )
    assert ran.stdout.strip() != "0", "the container must not run as root"


def _spec_message(stdout: str) -> dict:
    specs = [m for m in messages(stdout) if m.get("type") == "SPEC"]
    assert len(specs) == 1, stdout[-3000:]
    return specs[0]["spec"]


def test_spec_in_the_image_is_the_packages_spec(docker_client, image):
    code, stdout, stderr = run_container(docker_client, image, ["spec"])
    assert code == 0, stderr[-3000:]
    in_image = _spec_message(stdout)

    local = subprocess.run(
        [sys.executable, "-c", "from source_zoho_desk.run import run; run(['spec'])"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    assert in_image == _spec_message(local.stdout)
    # And it is spec.yaml as shipped in the package.
    shipped = yaml.safe_load((ROOT / "source_zoho_desk" / "spec.yaml").read_text())
    assert in_image["connectionSpecification"] == shipped["connectionSpecification"]


def test_unknown_command_fails_with_a_non_zero_exit(docker_client, image):
    code, _stdout, _stderr = run_container(docker_client, image, ["no-such-command"])
    assert code != 0
