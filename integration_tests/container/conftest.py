"""Fixtures for the container tests: a real engine (whatever DOCKER_HOST points to), the image built from
the repo's Dockerfile, and helpers to run it.

Under CI (CI=true) a missing engine or docker CLI FAILS these tests; elsewhere they skip with the reason.
`bash scripts/test.sh` starts an engine first where it can (.ci/container-engine.sh).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
METADATA = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]
IMAGE_REPOSITORY = METADATA["dockerRepository"]
IMAGE_TAG = f"{IMAGE_REPOSITORY}:dev-latest"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BUILD_TIMEOUT_S = 900


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "image_tests: the Airbyte CDK's standard tests of a connector image")


def _no_engine(reason: str) -> None:
    extra = os.environ.get("CONTAINER_ENGINE_ERROR")
    if extra:
        reason = f"{reason} ({extra})"
    if IN_CI:
        pytest.fail(f"CI=true and the container tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"no container engine: {reason}. Start one with `eval \"$(bash .ci/container-engine.sh start)\"`")


@pytest.fixture(scope="session")
def docker_client():
    """A docker SDK client for the engine at DOCKER_HOST (or the default socket)."""
    if shutil.which("docker") is None:
        _no_engine("no docker CLI on PATH")
    try:
        import docker
    except ImportError as exc:  # it is in the tests extra
        _no_engine(f"the docker Python package is missing: {exc}")
    try:
        client = docker.from_env(timeout=BUILD_TIMEOUT_S)
        client.ping()
    except Exception as exc:  # DockerException, connection errors: all mean "no engine"
        _no_engine(f"no engine answers at DOCKER_HOST={os.environ.get('DOCKER_HOST', '(unset)')}: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def image(docker_client) -> str:
    """The connector image, built from the repo's Dockerfile (layer cache reused between runs).

    BASE_IMAGE stays the Dockerfile's default unless ZOHO_BASE_IMAGE overrides it; on CI machines
    .ci/container-engine.sh tags a local stand-in with that default name.
    """
    buildargs = {"BASE_IMAGE": os.environ["ZOHO_BASE_IMAGE"]} if os.environ.get("ZOHO_BASE_IMAGE") else {}
    started = time.monotonic()
    try:
        built, logs = docker_client.images.build(
            path=str(ROOT),
            tag=IMAGE_TAG,
            buildargs=buildargs,
            network_mode="host",
            rm=True,
            forcerm=True,
            pull=False,
        )
    except Exception as exc:  # BuildError carries the log
        build_log = "".join(chunk.get("stream", "") for chunk in getattr(exc, "build_log", []) or [])
        pytest.fail(f"docker build failed: {exc}\n{build_log[-6000:]}", pytrace=False)
    print(f"built {IMAGE_TAG} ({built.short_id}) in {time.monotonic() - started:.0f}s")
    return IMAGE_TAG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def messages(output: str | bytes) -> list[dict]:
    """The Airbyte messages (JSON lines) of a connector's stdout."""
    if isinstance(output, bytes):
        output = output.decode()
    found = []
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                found.append(json.loads(line))
    return found


def run_container(docker_client, image: str, args: list[str], *, volumes: dict | None = None,
                  timeout: float = 300, **kwargs) -> tuple[int, str, str]:
    """Run the image to completion on the host network; (exit code, stdout, stderr)."""
    container = docker_client.containers.run(
        image, args, detach=True, network_mode="host", volumes=volumes or {}, **kwargs
    )
    try:
        result = container.wait(timeout=timeout)
        stdout = container.logs(stdout=True, stderr=False).decode()
        stderr = container.logs(stdout=False, stderr=True).decode()
        return result["StatusCode"], stdout, stderr
    finally:
        container.remove(force=True, v=True)


@pytest.fixture
def volume(docker_client) -> Iterator[str]:
    """A fresh named volume, removed afterwards."""
    name = f"zoho-test-{uuid.uuid4().hex[:12]}"
    docker_client.volumes.create(name)
    yield name
    with contextlib.suppress(Exception):
        docker_client.volumes.get(name).remove(force=True)


def wait_http(url: str, timeout: float = 60, **kwargs) -> None:
    import requests

    deadline = time.monotonic() + timeout
    last: Exception | str = "no attempt"
    while time.monotonic() < deadline:
        try:
            response = requests.get(url, timeout=2, **kwargs)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer 200 within {timeout}s: {last}")
