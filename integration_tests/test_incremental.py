"""Incremental sync end to end: the fake Zoho Desk, a real collector subprocess, and the connector's entrypoint.

Proves issue #4: webhook events (creates, updates, deletes of several streams) arrive as exactly those records;
acknowledgement follows Airbyte's committed state, so a killed sync loses nothing; the polling pass heals events
Zoho failed to deliver; a webhook sync without changes makes no list calls; a polling sync of k changed tickets
makes at most ceil(k/100)+1 search calls.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from airbyte_cdk.models import (
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    DestinationSyncMode,
    SyncMode,
    Type,
)

from integration_tests.conftest import Connector, Run, iter_entrypoint
from integration_tests.fake_zoho.server import FakeZohoServer
from source_zoho_desk.queue_client import QueueClient

DELETED = "_ab_cdc_deleted_at"
STREAMS = ("tickets", "contacts", "accounts", "ticket_comments")


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real collector process (uvicorn) on 127.0.0.1; tests create their own data sources on it."""
    data_dir = tmp_path_factory.mktemp("collector")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "source_zoho_desk.collector", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir), "--public-base-url", base, "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{base}/health", timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "the collector did not start"
        time.sleep(0.1)
    try:
        yield {"url": base, "data_dir": data_dir}
    finally:
        process.terminate()
        process.wait(timeout=30)


def new_source(collector: dict[str, Any], org_id: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "source_zoho_desk.collector", "create-source", "--org-id", org_id,
         "--data-dir", str(collector["data_dir"]), "--public-base-url", collector["url"]],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def incremental_config(zoho: FakeZohoServer, collector: dict[str, Any], source: dict[str, Any] | None,
                       mode: str, **extra: Any) -> dict[str, Any]:
    incremental: dict[str, Any] = {"mode": mode, "polling_lookback_minutes": 0}
    if source is not None:
        incremental.update(collector_url=collector["url"], data_source_id=source["data_source_id"],
                           collector_credential=source["drain_credential"])
    return zoho.config(incremental=incremental, **extra)


def incremental_catalog(connector: Connector, config: dict[str, Any],
                        streams: tuple[str, ...] = STREAMS) -> ConfiguredAirbyteCatalog:
    found = {s.name: s for s in connector.catalog(config).streams}
    return ConfiguredAirbyteCatalogSerializer.load({"streams": [
        {
            "stream": {
                "name": name,
                "json_schema": found[name].json_schema,
                "supported_sync_modes": [m.value for m in found[name].supported_sync_modes],
                "source_defined_cursor": True,
                "default_cursor_field": found[name].default_cursor_field,
            },
            "sync_mode": SyncMode.incremental.value,
            "destination_sync_mode": DestinationSyncMode.append_dedup.value,
            "cursor_field": found[name].default_cursor_field,
            "primary_key": [["id"]],
        }
        for name in streams
    ]})


def sync(connector: Connector, config: dict[str, Any], catalog: ConfiguredAirbyteCatalog,
         state: list[dict[str, Any]] | None) -> tuple[Run, list[dict[str, Any]]]:
    run = connector.run(connector.args("read", config, catalog, state if state is not None else []))
    assert run.uncaught is None and not run.errors, run.error_text()
    return run, committed_state(run)


def committed_state(run: Run) -> list[dict[str, Any]]:
    """The last STATE of each stream, as the platform would persist it once the destination commits."""
    latest: dict[str, dict[str, Any]] = {}
    for message in run.states:
        state = AirbyteStateMessageSerializer.dump(message.state)
        state.pop("sourceStats", None)
        latest[state["stream"]["stream_descriptor"]["name"]] = state
    return list(latest.values())


def changed(run: Run) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for message in run.records:
        out.setdefault(message.record.stream, {})[message.record.data["id"]] = message.record.data
    return out


def post_events(source: dict[str, Any], events: list[dict[str, Any]]) -> None:
    response = requests.post(source["service_url"], json=events, timeout=10)
    assert response.status_code == 200, response.text


def list_calls(calls: dict[str, int]) -> dict[str, int]:
    return {path: n for path, n in calls.items() if path.startswith("GET /api/v1")}


def test_webhook_sync_delivers_exactly_the_changes_and_acknowledges_on_commit(serve, connector, collector):
    zoho = serve(sizes={"tickets": 120, "contacts": 30, "accounts": 15, "ticket_comments": 2})
    fake = zoho.fake
    source = new_source(collector, fake.org_id)
    config = incremental_config(zoho, collector, source, "webhook")
    catalog = incremental_catalog(connector, config)

    first, state = sync(connector, config, catalog, None)
    snapshot = changed(first)
    assert len(snapshot["tickets"]) == 120 and len(snapshot["contacts"]) == 30
    assert all(r.get(DELETED) is None for r in snapshot["tickets"].values())

    t0, t1 = fake.ids("tickets", 2)
    a0, a1 = fake.ids("accounts", 2)
    events = [
        fake.webhook_event("tickets", fake.update("tickets", t0, subject="Refund, please")["id"]),
        fake.webhook_event("tickets", fake.create("tickets", subject="Brand new")["id"]),
        fake.webhook_event("tickets", fake.delete("tickets", t1)["id"]),
        fake.webhook_event("contacts", fake.create("contacts", lastName="Okafor")["id"]),
        fake.webhook_event("accounts", fake.update("accounts", a0, accountName="Zylker Ltd")["id"]),
        fake.webhook_event("accounts", fake.delete("accounts", a1)["id"]),
        fake.webhook_event("ticket_comments", fake.create("ticket_comments", ticket_id=t0, content="On it")["id"]),
    ]
    post_events(source, events)
    fake.reset_calls()

    second, state2 = sync(connector, config, catalog, state)
    got = changed(second)
    ids = {stream: set(records) for stream, records in got.items()}
    new_ticket, new_contact, new_comment = events[1]["payload"]["id"], events[3]["payload"]["id"], events[6][
        "payload"]["id"]
    assert ids == {"tickets": {t0, new_ticket, t1}, "contacts": {new_contact}, "accounts": {a0, a1},
                   "ticket_comments": {new_comment}}
    assert got["tickets"][t0]["subject"] == "Refund, please" and got["tickets"][t0].get(DELETED) is None
    assert got["tickets"][t1].get(DELETED) is not None
    assert got["accounts"][a1].get(DELETED) is not None and got["accounts"][a0]["accountName"] == "Zylker Ltd"
    assert got["ticket_comments"][new_comment]["ticketId"] == t0
    assert list_calls(fake.calls()) == {}, "a webhook sync reads the queue, not Zoho's list APIs"

    # Not acknowledged yet: the second sync's records are not committed until a third sync says so.
    queue = QueueClient(collector["url"], source["drain_credential"], source["data_source_id"])
    assert [e.event_type for e in queue.drain("tickets", 0, 100)] == ["Ticket_Update", "Ticket_Add", "Ticket_Delete"]

    third, _ = sync(connector, config, catalog, state2)
    assert changed(third) == {}
    assert list_calls(fake.calls()) == {}, "a webhook sync with no changes makes no list calls"
    assert queue.drain("tickets", 0, 100) == [], "the committed state let the collector drop the events"


def test_a_killed_sync_is_rerun_from_the_committed_state_and_loses_nothing(serve, connector, collector):
    zoho = serve(sizes={"tickets": 40, "contacts": 10, "accounts": 5, "ticket_comments": 1})
    fake = zoho.fake
    source = new_source(collector, fake.org_id)
    config = incremental_config(zoho, collector, source, "webhook")
    catalog = incremental_catalog(connector, config)
    _, state = sync(connector, config, catalog, None)

    tickets = fake.ids("tickets", 5)
    post_events(source, [fake.webhook_event("tickets", fake.update("tickets", t, status="Closed")["id"])
                         for t in tickets])

    killed = Run()
    for message in iter_entrypoint(connector.args("read", config, catalog, state), killed):
        if message.type == Type.RECORD:
            break  # the sync dies after its first record: no state of this sync reaches the platform

    rerun, _ = sync(connector, config, catalog, state)
    assert set(changed(rerun)["tickets"]) == set(tickets)
    assert all(r["status"] == "Closed" for r in changed(rerun)["tickets"].values())


def test_polling_catch_up_heals_events_zoho_failed_to_deliver(serve, connector, collector):
    zoho = serve(sizes={"tickets": 60, "contacts": 10, "accounts": 5, "ticket_comments": 1})
    fake = zoho.fake
    source = new_source(collector, fake.org_id)
    config = incremental_config(zoho, collector, source, "webhook_and_polling")
    catalog = incremental_catalog(connector, config, ("tickets", "contacts"))
    _, state = sync(connector, config, catalog, None)

    delivered = fake.update("tickets", fake.ids("tickets", 1)[0], subject="Delivered")
    dropped_ticket = fake.update("tickets", fake.ids("tickets", 2)[1], subject="Dropped by Zoho")
    dropped_contact = fake.create("contacts", lastName="Never-webhooked")
    post_events(source, [fake.webhook_event("tickets", delivered["id"])])  # the other two events are lost

    second, _ = sync(connector, config, catalog, state)
    got = changed(second)
    assert set(got["tickets"]) == {delivered["id"], dropped_ticket["id"]}
    assert got["tickets"][dropped_ticket["id"]]["subject"] == "Dropped by Zoho"
    assert set(got["contacts"]) == {dropped_contact["id"]}
    assert len(second.records_of("tickets")) == 2, "a change seen by both paths is emitted once"


@pytest.mark.parametrize("k", [0, 1, 100, 150, 250])
def test_polling_sync_of_k_changed_tickets_makes_at_most_k_over_100_plus_one_search_calls(serve, connector, k):
    zoho = serve(sizes={"tickets": 400})
    fake = zoho.fake
    config = incremental_config(zoho, {}, None, "polling")
    catalog = incremental_catalog(connector, config, ("tickets",))
    _, state = sync(connector, config, catalog, None)

    changed_ids = fake.ids("tickets", k)
    for ticket_id in changed_ids:
        fake.update("tickets", ticket_id, priority="High")
    fake.reset_calls()

    second, _ = sync(connector, config, catalog, state)
    assert set(changed(second).get("tickets", {})) == set(changed_ids)
    calls = fake.calls()
    assert calls.get("GET /api/v1/tickets/search", 0) <= math.ceil(k / 100) + 1
    assert calls.get("GET /api/v1/tickets", 0) == 0


def test_a_window_past_the_search_ceiling_is_split_and_misses_nothing(serve, connector):
    zoho = serve(sizes={"tickets": 1300})
    fake = zoho.fake
    config = incremental_config(zoho, {}, None, "polling")
    catalog = incremental_catalog(connector, config, ("tickets",))
    _, state = sync(connector, config, catalog, None)

    changed_ids = fake.ids("tickets", 1250)
    for i, ticket_id in enumerate(changed_ids):
        fake.update("tickets", ticket_id, subject=f"bulk edit {i}")
        if i % 100 == 0:
            time.sleep(0.003)  # bulk edits still take time: the changes span milliseconds search can split
    fake.reset_calls()

    second, _ = sync(connector, config, catalog, state)
    assert set(changed(second)["tickets"]) == set(changed_ids)
    assert fake.calls().get("GET /api/v1/tickets", 0) == 0, "splitting the window, not a full listing"


def test_start_date_bounds_the_first_polling_sync(serve, connector):
    zoho = serve(sizes={"tickets": 50})
    fake = zoho.fake
    cutoff = time.time()
    time.sleep(0.01)
    recent = [fake.update("tickets", t, subject="after the start date")["id"] for t in fake.ids("tickets", 3)]
    config = incremental_config(zoho, {}, None, "polling",
                                start_date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(cutoff - 1)))
    catalog = incremental_catalog(connector, config, ("tickets",))
    first, _ = sync(connector, config, catalog, None)
    assert set(changed(first)["tickets"]) == set(recent)


def test_full_refresh_only_streams_say_so_in_discover(serve, connector):
    zoho = serve()
    streams = {s.name: s for s in connector.catalog(zoho.config()).streams}
    assert SyncMode.incremental not in streams["contracts"].supported_sync_modes
    assert "Full refresh only" in streams["contracts"].json_schema["description"]
    assert SyncMode.incremental not in streams["agents"].supported_sync_modes  # polling mode: agents have no search
    assert "webhook" in streams["agents"].json_schema["description"]
    assert streams["tickets"].default_cursor_field == ["modifiedTime"]
    assert DELETED in streams["tickets"].json_schema["properties"]


def test_webhook_mode_without_collector_settings_names_the_missing_field(serve, connector):
    zoho = serve()
    run = connector.check(zoho.config(incremental={"mode": "webhook"}))
    assert run.status.status.value == "FAILED"
    assert "incremental.collector_url" in run.status.message


def test_check_proves_the_collector_settings_and_names_the_wrong_one(serve, connector, collector):
    zoho = serve()
    source = new_source(collector, zoho.fake.org_id)
    good = incremental_config(zoho, collector, source, "webhook")
    assert connector.check(good).status.status.value == "SUCCEEDED"

    wrong_credential = incremental_config(zoho, collector, {**source, "drain_credential": "zdc_wrong"}, "webhook")
    status = connector.check(wrong_credential).status
    assert status.status.value == "FAILED" and "incremental.collector_credential" in status.message


def test_an_unreachable_collector_fails_the_sync_as_transient_and_acknowledges_nothing(serve, connector, collector,
                                                                                     sleeps):
    zoho = serve(sizes={"tickets": 10})
    source = new_source(collector, zoho.fake.org_id)
    config = incremental_config(zoho, collector, source, "webhook")
    catalog = incremental_catalog(connector, config, ("tickets",))
    _, state = sync(connector, config, catalog, None)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config["incremental"]["collector_url"] = dead
    run = connector.run(connector.args("read", config, catalog, state))
    errors = [m.trace.error for m in run.errors if "collector is unavailable" in m.trace.error.message]
    assert errors and errors[0].failure_type.value == "transient_error", run.error_text()
