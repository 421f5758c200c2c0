"""check, discover and read in the image, against the fake Zoho Desk on the host network, give the same messages
as the same commands run in-process."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from integration_tests.container.conftest import messages, run_container
from integration_tests.fake_zoho.server import running_fake_zoho
from integration_tests.fake_zoho.state import FakeZoho


@pytest.fixture(scope="module")
def fake_zoho():
    fake = FakeZoho()
    # Both runs of every command mint tokens; the 10-per-10-minutes limit is not what is tested here.
    fake.configure(token_rate_limit=False)
    with running_fake_zoho(fake) as server:
        yield server


def in_process(args: list[str]) -> list[dict]:
    """The messages of the same command run in this process, through the CDK's entrypoint."""
    from airbyte_cdk.entrypoint import AirbyteEntrypoint

    from source_zoho_desk.source import SourceZohoDesk

    entrypoint = AirbyteEntrypoint(SourceZohoDesk())
    return [json.loads(line) for line in entrypoint.run(entrypoint.parse_args(args))]


def in_container(docker_client, image: str, args: list[str], files: dict[str, Path]) -> list[dict]:
    """Run the image with `files` mounted read-only under /secrets; args name them as /secrets/<key>."""
    volumes = {}
    for name, path in files.items():
        path.chmod(0o644)  # the image runs as an unprivileged user
        volumes[str(path)] = {"bind": f"/secrets/{name}", "mode": "ro"}
    code, stdout, stderr = run_container(docker_client, image, args, volumes=volumes)
    found = messages(stdout)
    assert found, f"no Airbyte messages (exit {code}): {stderr[-3000:]}"
    return found


def normalise(found: list[dict]) -> dict:
    """What must be equal: everything except logs and timings, per stream (order within a stream kept)."""
    out: dict = {"records": defaultdict(list), "states": defaultdict(list), "statuses": defaultdict(list),
                 "errors": [], "other": []}
    for message in found:
        kind = message["type"]
        if kind == "RECORD":
            out["records"][message["record"]["stream"]].append(message["record"]["data"])
        elif kind == "STATE":
            state = message["state"]
            if state.get("type") == "STREAM":
                out["states"][state["stream"]["stream_descriptor"]["name"]].append(state["stream"].get("stream_state"))
            else:
                out["states"]["<global>"].append({k: v for k, v in state.items() if not k.endswith("Stats")})
        elif kind == "TRACE":
            trace = message["trace"]
            if trace["type"] == "STREAM_STATUS":
                status = trace["stream_status"]
                out["statuses"][status["stream_descriptor"]["name"]].append(status["status"])
            elif trace["type"] == "ERROR":
                out["errors"].append((trace["error"].get("failure_type"), trace["error"].get("message")))
        elif kind in ("CONNECTION_STATUS", "CATALOG", "SPEC"):
            out["other"].append({kind: message[kind.lower() if kind != "CONNECTION_STATUS" else "connectionStatus"]})
    return {key: dict(value) if isinstance(value, defaultdict) else value for key, value in out.items()}


def write_json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_check_in_the_image_equals_in_process(docker_client, image, fake_zoho, tmp_path):
    config = write_json(tmp_path / "config.json", fake_zoho.config())
    local = in_process(["check", "--config", str(config)])
    contained = in_container(docker_client, image, ["check", "--config", "/secrets/config.json"],
                             {"config.json": config})
    assert normalise(contained) == normalise(local)
    (status,) = [m["connectionStatus"] for m in contained if m["type"] == "CONNECTION_STATUS"]
    assert status["status"] == "SUCCEEDED", status


def test_failing_check_in_the_image_equals_in_process(docker_client, image, fake_zoho, tmp_path):
    config = fake_zoho.config()
    config["credentials"] = {**config["credentials"], "client_secret": "not-the-secret"}
    path = write_json(tmp_path / "config.json", config)
    local = in_process(["check", "--config", str(path)])
    contained = in_container(docker_client, image, ["check", "--config", "/secrets/config.json"],
                             {"config.json": path})
    assert normalise(contained) == normalise(local)
    statuses = [m["connectionStatus"]["status"] for m in contained if m["type"] == "CONNECTION_STATUS"]
    errors = [m for m in contained if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    assert statuses == ["FAILED"] or errors, contained[-3:]
    assert "not-the-secret" not in json.dumps(contained)


def test_discover_in_the_image_equals_in_process(docker_client, image, fake_zoho, tmp_path):
    config = write_json(tmp_path / "config.json", fake_zoho.config())
    local = in_process(["discover", "--config", str(config)])
    contained = in_container(docker_client, image, ["discover", "--config", "/secrets/config.json"],
                             {"config.json": config})
    assert normalise(contained) == normalise(local)
    (catalog,) = [m["catalog"] for m in contained if m["type"] == "CATALOG"]
    assert {"tickets", "contacts", "ticket_threads"} <= {s["name"] for s in catalog["streams"]}


def test_read_in_the_image_equals_in_process(docker_client, image, fake_zoho, tmp_path):
    config = write_json(tmp_path / "config.json", fake_zoho.config())
    (catalog,) = [m["catalog"] for m in in_process(["discover", "--config", str(config)]) if m["type"] == "CATALOG"]
    configured = {
        "streams": [
            {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
            for stream in catalog["streams"]
        ]
    }
    catalog_path = write_json(tmp_path / "catalog.json", configured)
    local = normalise(in_process(["read", "--config", str(config), "--catalog", str(catalog_path)]))
    contained = normalise(in_container(
        docker_client, image,
        ["read", "--config", "/secrets/config.json", "--catalog", "/secrets/catalog.json"],
        {"config.json": config, "catalog.json": catalog_path},
    ))
    assert contained["errors"] == local["errors"] == []
    assert sorted(contained["records"]) == sorted(local["records"])
    for stream, records in local["records"].items():
        assert contained["records"][stream] == records, stream
    assert contained == local
    assert sum(len(records) for records in contained["records"].values()) > 0
    assert all(statuses[-1] == "COMPLETE" for statuses in contained["statuses"].values()), contained["statuses"]
