"""The collector from the same image: accepts a webhook, keeps it across a restart (and a new container) on its
volume, and serves it through the drain API."""

from __future__ import annotations

import contextlib
import json
import time

import pytest
import requests

from integration_tests.container.conftest import free_port, run_container, wait_http

ORG_ID = "648638721"


def _create_source(docker_client, image: str, volume: str) -> dict:
    code, stdout, stderr = run_container(
        docker_client, image, ["collector", "create-source", "--org-id", ORG_ID, "--name", "container test"],
        volumes={volume: {"bind": "/data", "mode": "rw"}},
    )
    assert code == 0, stderr[-3000:]
    issued = json.loads(stdout)
    assert issued["org_id"] == ORG_ID
    assert issued["service_path"].startswith("/hooks/")
    assert issued["drain_credential"]
    return issued


@contextlib.contextmanager
def _collector(docker_client, image: str, volume: str, port: int):
    container = docker_client.containers.run(
        image,
        ["collector", "serve", "--host", "127.0.0.1", "--port", str(port)],
        detach=True,
        network_mode="host",
        volumes={volume: {"bind": "/data", "mode": "rw"}},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=60)
        yield container
    except Exception:
        print(container.logs().decode()[-5000:])
        raise
    finally:
        container.remove(force=True, v=True)


def _drain(base: str, issued: dict, partition: str, **params) -> dict:
    response = requests.get(
        f"{base}/v1/sources/{issued['data_source_id']}/partitions/{partition}/events",
        headers={"Authorization": f"Bearer {issued['drain_credential']}"},
        params=params,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _ticket_event(ticket_id: str, subject: str) -> dict:
    return {
        "eventType": "Ticket_Add",
        "orgId": ORG_ID,
        "eventTime": str(int(time.time() * 1000)),
        "payload": {"id": ticket_id, "subject": subject, "status": "Open"},
    }


@pytest.mark.timeout(600)
def test_collector_container_accepts_webhooks_survives_restart_and_serves_drain_api(docker_client, image, volume):
    issued = _create_source(docker_client, image, volume)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    hook = base + issued["service_path"]

    with _collector(docker_client, image, volume, port) as container:
        # Zoho's URL validation probe, then a batch of two events.
        assert requests.get(hook, timeout=10).status_code == 200
        response = requests.post(
            hook, json=[_ticket_event("1001", "first"), _ticket_event("1002", "second")], timeout=10
        )
        assert response.status_code == 200, response.text
        assert response.json()["stored"] == 2
        # An unknown token is refused, and nothing is stored for it.
        assert requests.post(base + "/hooks/not-a-token", json=[_ticket_event("9", "x")], timeout=10).status_code == 404

        container.restart(timeout=30)
        wait_http(f"{base}/health", timeout=60)
        assert container.attrs["Config"]["User"] not in ("", "root", "0")

        page = _drain(base, issued, "tickets")
        assert [e["payload"]["id"] for e in page["events"]] == ["1001", "1002"]
        assert {e["event_type"] for e in page["events"]} == {"Ticket_Add"}
        assert page["next_after_seq"] == page["events"][-1]["seq"]

        # A wrong drain credential gets nothing.
        denied = requests.get(
            f"{base}/v1/sources/{issued['data_source_id']}/partitions/tickets/events",
            headers={"Authorization": "Bearer wrong"}, timeout=10,
        )
        assert denied.status_code == 401

        # Acknowledge the first event only.
        first_seq = page["events"][0]["seq"]
        ack = requests.post(
            f"{base}/v1/sources/{issued['data_source_id']}/partitions/tickets/ack",
            headers={"Authorization": f"Bearer {issued['drain_credential']}"},
            json={"upto_seq": first_seq},
            timeout=10,
        )
        assert ack.status_code == 200, ack.text

    # A brand-new container on the same volume still has the unacknowledged event and the data source.
    with _collector(docker_client, image, volume, port):
        page = _drain(base, issued, "tickets")
        assert [e["payload"]["id"] for e in page["events"]] == ["1002"]
        assert requests.post(hook, json=[_ticket_event("1003", "third")], timeout=10).json()["stored"] == 1
        assert [e["payload"]["id"] for e in _drain(base, issued, "tickets")["events"]] == ["1002", "1003"]


def test_collector_state_lives_in_the_volume_not_the_container(docker_client, image, volume):
    issued = _create_source(docker_client, image, volume)
    code, stdout, stderr = run_container(
        docker_client, image, ["collector", "list-sources"], volumes={volume: {"bind": "/data", "mode": "rw"}}
    )
    assert code == 0, stderr[-3000:]
    listed = json.loads(stdout)["sources"]
    assert [s["id"] for s in listed] == [issued["data_source_id"]]
    assert "drain_credential" not in json.dumps(listed)
    # Without the volume, a container starts empty.
    code, stdout, _ = run_container(docker_client, image, ["collector", "list-sources", "--data-dir", "/tmp/empty"])
    assert code == 0 and json.loads(stdout)["sources"] == []
