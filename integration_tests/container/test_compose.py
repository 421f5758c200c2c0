"""docker-compose.yml as shipped: the collector with its volume, and the one-shot `source` read draining it.

The TLS proxy (caddy) is left out (no image can be pulled in CI); the collector and source services run
exactly as the compose file defines them, except that `source` mounts this test's secrets folder and reads
with a state file. Flow: create a data source in the running collector, read once (snapshot + queue head),
post a webhook, read again with the state: the second read returns the webhook's change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest
import requests
import yaml

from integration_tests.container.conftest import IN_CI, ROOT, messages
from integration_tests.container.test_cdk_image_tests import address_containers_reach
from integration_tests.fake_zoho.server import FakeZohoServer
from integration_tests.fake_zoho.state import FakeZoho


def compose_command() -> list[str]:
    """`docker compose` (v2 plugin) if present, else `docker-compose`; under CI one of them must exist."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    message = "neither `docker compose` nor `docker-compose` is installed (.ci/container-engine.sh installs one)"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


class Compose:
    def __init__(self, override: dict, tmp_path, image: str) -> None:
        self.project = f"zohotest{uuid.uuid4().hex[:10]}"
        override_path = tmp_path / "compose.override.yml"
        override_path.write_text(yaml.safe_dump(override))
        self.base = [*compose_command(), "-p", self.project, "-f", str(ROOT / "docker-compose.yml"),
                     "-f", str(override_path), "--profile", "sync"]
        self.env = {"ZOHO_IMAGE": image, "COLLECTOR_HOST": "collector.invalid", "PATH": "/usr/local/bin:/usr/bin:/bin"}
        for name in ("DOCKER_HOST", "HOME"):
            if os.environ.get(name):
                self.env[name] = os.environ[name]

    def __call__(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run([*self.base, *args], capture_output=True, text=True, env=self.env,
                                timeout=timeout, cwd=ROOT)
        assert result.returncode == 0, (
            f"compose {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        return result.stdout

    def container(self, docker_client, service: str):
        found = docker_client.containers.list(all=True, filters={
            "label": [f"com.docker.compose.project={self.project}", f"com.docker.compose.service={service}"]})
        assert len(found) == 1, f"{service}: {found}"
        return found[0]


def _read_once(compose: Compose, docker_client) -> list[dict]:
    compose("up", "-d", "--no-deps", "--force-recreate", "source")
    container = compose.container(docker_client, "source")
    result = container.wait(timeout=300)
    logs = container.logs(stdout=True, stderr=False).decode()
    found = messages(logs)
    assert result["StatusCode"] == 0, container.logs().decode()[-4000:]
    errors = [m for m in found if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    assert errors == [], errors
    return found


def _wait_health(compose: Compose, docker_client) -> str:
    container = compose.container(docker_client, "collector")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        container.reload()
        networks = container.attrs["NetworkSettings"]["Networks"]
        address = next((n["IPAddress"] for n in networks.values() if n.get("IPAddress")), None)
        if address:
            try:
                if requests.get(f"http://{address}:8080/health", timeout=2).status_code == 200:
                    return address
            except requests.RequestException:
                pass
        time.sleep(0.5)
    raise AssertionError(f"collector never healthy:\n{container.logs().decode()[-3000:]}")


@pytest.mark.timeout(600)
def test_compose_collector_and_one_shot_source_read(docker_client, image, tmp_path):
    fake = FakeZoho()
    fake.configure(token_rate_limit=False)
    server = FakeZohoServer(fake, host="0.0.0.0").start()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    secrets.chmod(0o755)
    compose = Compose(
        {"services": {"source": {
            "volumes": [f"{secrets}:/secrets:ro"],
            "command": ["read", "--config", "/secrets/config.json", "--catalog", "/secrets/catalog.json",
                        "--state", "/secrets/state.json"],
        }}},
        tmp_path,
        image,
    )
    try:
        compose("up", "-d", "--no-deps", "collector")
        collector_ip = _wait_health(compose, docker_client)
        issued = json.loads(compose("exec", "-T", "collector", "source-zoho-desk", "collector", "create-source",
                                    "--org-id", fake.org_id, "--name", "compose test"))
        assert issued["service_url"].startswith("https://collector.invalid/hooks/")

        base = f"http://{address_containers_reach()}:{server.port}"
        config = server.config(
            api_url=base + "/api/v1",
            accounts_url=base,
            incremental={
                "mode": "webhook",
                "collector_url": "http://collector:8080",  # the service name on the compose network
                "data_source_id": issued["data_source_id"],
                "collector_credential": issued["drain_credential"],
            },
        )
        (secrets / "config.json").write_text(json.dumps(config))
        catalog = {"streams": [{
            "stream": {"name": "tickets", "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"],
                       "source_defined_cursor": True, "default_cursor_field": ["modifiedTime"]},
            "sync_mode": "incremental", "destination_sync_mode": "append", "cursor_field": ["modifiedTime"],
        }]}
        (secrets / "catalog.json").write_text(json.dumps(catalog))
        (secrets / "state.json").write_text("[]")
        for path in secrets.iterdir():
            path.chmod(0o644)

        first = _read_once(compose, docker_client)
        snapshot = [m["record"]["data"] for m in first if m["type"] == "RECORD"]
        assert snapshot, "the first incremental read snapshots the tickets from the Desk API"
        states = [m["state"] for m in first if m["type"] == "STATE"]
        assert states, first[-5:]

        ticket_id = str(snapshot[0]["id"])
        event = {
            "eventType": "Ticket_Update",
            "orgId": fake.org_id,
            "eventTime": str(int(time.time() * 1000)),
            "payload": {**snapshot[0], "id": ticket_id, "subject": "changed through the collector"},
        }
        posted = requests.post(f"http://{collector_ip}:8080{issued['service_path']}", json=[event], timeout=10)
        assert posted.status_code == 200 and posted.json()["stored"] == 1, posted.text

        (secrets / "state.json").write_text(json.dumps([states[-1]]))
        second = _read_once(compose, docker_client)
        changed = [m["record"]["data"] for m in second if m["type"] == "RECORD"]
        assert [(r["id"], r["subject"]) for r in changed] == [(ticket_id, "changed through the collector")]
    finally:
        server.stop()
        subprocess.run([*compose.base, "down", "-v", "--remove-orphans"], env=compose.env, capture_output=True,
                       timeout=120, cwd=ROOT)
