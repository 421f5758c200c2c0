"""The collector's HTTP behaviour: Zoho URL validation, ingest, bad input, drain API isolation, admin, ops."""

from __future__ import annotations

import json

import pytest

from source_zoho_desk.collector.settings import Settings
from unit_tests.collector.collector_helpers import ORG, event, make_source


def drain(client, src, partition="tickets", after=0, limit=100, headers=None):
    return client.get(
        f"/v1/sources/{src.id}/partitions/{partition}/events",
        params={"after_seq": after, "limit": limit},
        headers=src.drain_headers() if headers is None else headers,
    )


def stored(client, src, partition="tickets"):
    r = drain(client, src, partition)
    assert r.status_code == 200, r.text
    return r.json()["events"]


def test_zoho_url_validation_get_then_post(client, src):
    assert client.get(src.hook).status_code == 200
    assert client.head(src.hook).status_code == 200
    # Zoho's validation POST body is undocumented; an empty body and an empty array both pass
    assert client.post(src.hook).status_code == 200
    assert client.post(src.hook, content=b"[]", headers={"content-type": "application/json"}).status_code == 200
    assert stored(client, src) == []


def test_post_stores_zoho_body_and_drain_returns_it(client, src):
    body = [
        event("Ticket_Update", "11", prevState={"status": "Open"}),
        event("Ticket_Thread_Add", "12"),
        event("TimeEntry_Add", "13"),
        event("Made_Up_Event", "14"),
    ]
    r = client.post(src.hook, json=body)
    assert r.status_code == 200 and r.json() == {"stored": 4, "duplicates": 0}
    (t,) = stored(client, src)
    assert t["event_type"] == "Ticket_Update" and t["payload"] == {"id": "11"}
    assert t["prev_state"] == {"status": "Open"} and t["org_id"] == ORG and t["event_time_ms"] == 1700000000000
    assert [e["event_type"] for e in stored(client, src, "ticket_threads")] == ["Ticket_Thread_Add"]
    assert [e["event_type"] for e in stored(client, src, "ticket_time_entries")] == ["TimeEntry_Add"]
    assert [e["event_type"] for e in stored(client, src, "unknown")] == ["Made_Up_Event"]


def test_single_object_body_is_accepted(client, src):
    assert client.post(src.hook, json=event()).json() == {"stored": 1, "duplicates": 0}


def test_lone_surrogates_in_ids_and_payloads_are_stored_and_the_writer_survives(client, src):
    # found by the fuzzer: an id with a lone surrogate once killed the writer thread and hung later posts
    raw = json.dumps([event("Ticket_Add", "\ud800", payload={"id": "\ud800", "s": "\udfff"})]).encode()
    assert b"\\ud800" in raw  # the JSON text carries the escape; it decodes to a lone surrogate
    assert client.post(src.hook, content=raw, headers={"content-type": "application/json"}).status_code == 200
    assert client.post(src.hook, json=[event(entity="next")]).status_code == 200
    assert [e["payload"]["id"] for e in stored(client, src)] == ["\ud800", "next"]


def test_zoho_retry_is_stored_once(client, src):
    body = [event("Ticket_Update", "1"), event("Contact_Update", "2")]
    assert client.post(src.hook, json=body).json() == {"stored": 2, "duplicates": 0}
    assert client.post(src.hook, json=body).json() == {"stored": 0, "duplicates": 2}
    assert len(stored(client, src)) == 1


def test_unknown_and_revoked_tokens_get_404_without_hint(client, src, settings):
    from source_zoho_desk.collector.sources import SQLiteSourceRegistry

    unknown = client.post("/hooks/" + "A" * 43, json=[event()])
    assert unknown.status_code == 404
    reg = SQLiteSourceRegistry(settings.sources_path)
    new = reg.rotate_url(src.id)
    reg.close()
    for method in ("get", "head", "post"):
        r = getattr(client, method)(src.hook)
        assert r.status_code == 404
    revoked = client.post(src.hook, json=[event()])
    assert revoked.status_code == 404 and revoked.json() == unknown.json()
    assert client.post(f"/hooks/{new.url_token}", json=[event()]).status_code == 200


@pytest.mark.parametrize(
    "content, content_type, status, reason",
    [
        (b"{nope", "application/json", 400, "invalid_json"),
        (b'"x"', "application/json", 400, "invalid_shape"),
        (b'[{"eventType": "Ticket_Add"}]', "application/json", 400, "missing_payload"),
        (b'[{"payload": {}}]', "application/json", 400, "missing_event_type"),
        (b"[1]", "application/json", 400, "invalid_event"),
        (b"[]", "text/html", 415, "unsupported_media_type"),
        (b'[{"a":1}]', "text/html", 415, "unsupported_media_type"),
        (b'[{"a":1}]', "", 415, "unsupported_media_type"),
        (b'[{"a":1}]', "application/json; charset=latin-1", 415, "unsupported_media_type"),
    ],
)
def test_bad_input_gets_a_json_4xx(client, src, content, content_type, status, reason):
    headers = {"content-type": content_type} if content_type else {}
    r = client.post(src.hook, content=content, headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["error"] == reason and r.json()["message"]
    assert stored(client, src) == []


def test_wrong_org_is_rejected_and_the_whole_batch_with_it(client, src):
    r = client.post(src.hook, json=[event("Ticket_Add", "1"), event("Ticket_Add", "2", org="999")])
    assert r.status_code == 403 and r.json()["error"] == "wrong_org"
    assert stored(client, src) == []


def test_vendor_json_content_type_and_charset(client, src):
    for i, ct in enumerate(["application/json; charset=UTF-8", "application/vnd.zoho+json", "text/json"]):
        r = client.post(src.hook, content=json.dumps([event(entity=str(i))]), headers={"content-type": ct})
        assert r.status_code == 200, (ct, r.text)


def test_body_limit_413(tmp_path):
    from starlette.testclient import TestClient

    from source_zoho_desk.collector.app import create_app

    settings = Settings(data_dir=tmp_path, body_limit=1000)
    with TestClient(create_app(settings)) as client:
        src = make_source(settings)
        big = json.dumps([event(entity="x" * 2000)])
        r = client.post(src.hook, content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"] == "body_too_large"

        def chunks():  # no Content-Length: the streamed body is cut off at the limit
            for _ in range(100):
                yield b"[" + b" " * 100

        r = client.post(src.hook, content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert client.post(src.hook, json=[event()]).status_code == 200


def test_drain_pages_in_order_and_ack(client, src):
    for i in range(7):
        assert client.post(src.hook, json=[event(entity=str(i))]).status_code == 200
    page = drain(client, src, limit=3).json()
    seqs = [e["seq"] for e in page["events"]]
    assert len(seqs) == 3 and seqs == sorted(seqs) and page["next_after_seq"] == seqs[-1]
    rest = drain(client, src, after=seqs[-1], limit=100).json()["events"]
    assert [e["payload"]["id"] for e in rest] == ["3", "4", "5", "6"]
    head = client.get(f"/v1/sources/{src.id}/partitions/tickets/head", headers=src.drain_headers()).json()
    assert head == {"partition": "tickets", "head_seq": rest[-1]["seq"]}
    ack = client.post(f"/v1/sources/{src.id}/partitions/tickets/ack", json={"upto_seq": seqs[-1]},
                      headers=src.drain_headers())
    assert ack.status_code == 200 and ack.json()["deleted"] == 3
    assert [e["payload"]["id"] for e in stored(client, src)] == ["3", "4", "5", "6"]


@pytest.mark.parametrize("params", [{"after_seq": "-1"}, {"after_seq": "x"}, {"limit": "0"}, {"limit": "999999"},
                                    {"after_seq": "9" * 30}])
def test_drain_bad_params(client, src, params):
    r = client.get(f"/v1/sources/{src.id}/partitions/tickets/events", params=params, headers=src.drain_headers())
    assert r.status_code == 400 and r.json()["error"] == "bad_request"


@pytest.mark.parametrize("body", [b"", b"{}", b'{"upto_seq": -1}', b'{"upto_seq": "3"}', b'{"upto_seq": true}',
                                  b"[", b'{"upto_seq": 1e3}'])
def test_ack_bad_body(client, src, body):
    r = client.post(f"/v1/sources/{src.id}/partitions/tickets/ack", content=body, headers=src.drain_headers())
    assert r.status_code == 400 and r.json()["error"] == "invalid_ack"


def test_ack_beyond_head_is_409(client, src):
    r = client.post(f"/v1/sources/{src.id}/partitions/tickets/ack", json={"upto_seq": 10**9},
                    headers=src.drain_headers())
    assert r.status_code == 409


def test_cross_source_drain_and_ack_fail(client, settings):
    a, b = make_source(settings), make_source(settings, org_id="777")
    assert client.post(a.hook, json=[event(entity="secret-a")]).status_code == 200
    assert client.post(b.hook, json=[event(entity="b", org="777")]).status_code == 200
    a_events = stored(client, a)
    # b's credential on a's id, a's credential on b's id would leak / delete nothing
    for src_id, cred in ((a.id, b.credential), (b.id, a.credential)):
        h = {"Authorization": f"Bearer {cred}"}
        base = f"/v1/sources/{src_id}/partitions/tickets"
        assert client.get(base + "/events", headers=h).status_code == 401
        assert client.get(base + "/head", headers=h).status_code == 401
        assert client.post(base + "/ack", json={"upto_seq": 10}, headers=h).status_code == 401
    # b draining with its own credential never sees a's events
    assert all(e["payload"]["id"] == "b" for e in stored(client, b))
    assert stored(client, a) == a_events
    # a's events posted to b's URL are refused (org differs)
    assert client.post(b.hook, json=[event(entity="x")]).status_code == 403


def test_service_url_token_cannot_drain_or_ack(client, src):
    h = {"Authorization": f"Bearer {src.token}"}
    base = f"/v1/sources/{src.id}/partitions/tickets"
    assert client.get(base + "/events", headers=h).status_code == 401
    assert client.post(base + "/ack", json={"upto_seq": 0}, headers=h).status_code == 401
    for h in ({}, {"Authorization": "Basic eDp5"}, {"Authorization": "Bearer"}):
        assert client.get(base + "/events", headers=h).status_code == 401
    unknown = client.get("/v1/sources/ds_nope/partitions/tickets/events", headers=src.drain_headers())
    assert unknown.status_code == 401  # same answer as a wrong credential


def test_bad_partition_name(client, src):
    r = client.get(f"/v1/sources/{src.id}/partitions/Tickets;drop/events", headers=src.drain_headers())
    assert r.status_code == 400


def test_admin_endpoints(client, settings):
    h = {"Authorization": "Bearer adm1n"}
    assert client.get("/admin/sources").status_code == 404
    assert client.get("/admin/sources", headers={"Authorization": "Bearer wrong"}).status_code == 404
    r = client.post("/admin/sources", json={"org_id": ORG, "name": "eu"}, headers=h)
    assert r.status_code == 201
    created = r.json()
    assert created["service_url"].startswith("https://collector.example/hooks/")
    token = created["service_url"].rsplit("/", 1)[1]
    assert len(token) >= 22 and created["drain_credential"].startswith("zdc_")
    assert client.get(f"/hooks/{token}").status_code == 200
    listed = client.get("/admin/sources", headers=h).json()["sources"]
    assert [s["id"] for s in listed] == [created["data_source_id"]] and "drain_credential" not in listed[0]
    rotated = client.post(f"/admin/sources/{created['data_source_id']}/rotate-url", headers=h).json()
    assert client.get(f"/hooks/{token}").status_code == 404
    assert client.get(rotated["service_path"]).status_code == 200
    cred = client.post(f"/admin/sources/{created['data_source_id']}/rotate-credential", headers=h).json()
    assert cred["drain_credential"] != created["drain_credential"] and "service_url" not in cred
    assert client.post("/admin/sources/ds_nope/rotate-url", headers=h).status_code == 404
    assert client.post("/admin/sources", content=b"{}", headers=h).status_code == 400
    assert client.post("/admin/sources", json={"org_id": "a b"}, headers=h).status_code == 400


def test_admin_disabled_without_token(tmp_path):
    from starlette.testclient import TestClient

    from source_zoho_desk.collector.app import create_app

    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        r = client.post("/admin/sources", json={"org_id": "1"}, headers={"Authorization": "Bearer "})
        assert r.status_code == 404
        r = client.post("/admin/sources", json={"org_id": "1"}, headers={"Authorization": "Bearer None"})
        assert r.status_code == 404


def test_admin_service_url_from_forwarded_request_when_no_base_configured(tmp_path):
    from starlette.testclient import TestClient

    from source_zoho_desk.collector.app import create_app

    with TestClient(create_app(Settings(data_dir=tmp_path, admin_token="t")), base_url="https://hooks.example") as c:
        r = c.post("/admin/sources", json={"org_id": "1"}, headers={"Authorization": "Bearer t"})
        assert r.json()["service_url"].startswith("https://hooks.example/hooks/")


def test_health_and_metrics(client, src):
    assert client.get("/health").json() == {"status": "ok"}
    client.post(src.hook, json=[event(entity="1"), event("Contact_Add", "2"), event("Odd_Thing", "3")])
    client.post(src.hook, json=[event(entity="1")])
    client.post(src.hook, content=b"nope", headers={"content-type": "application/json"})
    client.post("/hooks/unknown", json=[])
    text = client.get("/metrics").text
    assert f'zoho_collector_events_stored_total{{partition="tickets",source="{src.id}"}} 1.0' in text
    assert f'zoho_collector_events_duplicate_total{{source="{src.id}"}} 1.0' in text
    assert f'zoho_collector_events_unknown_type_total{{source="{src.id}"}} 1.0' in text
    assert f'zoho_collector_requests_rejected_total{{reason="invalid_json",source="{src.id}"}} 1.0' in text
    assert 'zoho_collector_requests_rejected_total{reason="unknown_token",source=""} 1.0' in text
    assert f'zoho_collector_queue_depth{{partition="contacts",source="{src.id}"}} 1.0' in text
    assert f'zoho_collector_queue_oldest_unacked_age_seconds{{partition="tickets",source="{src.id}"}}' in text
    assert "zoho_collector_ingest_seconds_bucket" in text
    assert src.token not in text and src.credential not in text


def test_logs_hold_no_secrets_or_payloads(client, src, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    client.post(src.hook, json=[event(entity="PAYLOAD-MARKER")])
    client.post(src.hook, content=b"bad PAYLOAD-MARKER", headers={"content-type": "application/json"})
    client.get(f"/v1/sources/{src.id}/partitions/tickets/events", headers=src.drain_headers())
    from source_zoho_desk.collector.logs import JsonFormatter

    ours = [r for r in caplog.records if r.name.startswith("source_zoho_desk")]  # not the test client's
    lines = [JsonFormatter().format(r) for r in ours]
    assert any('"path": "/hooks/<token>"' in line for line in lines)
    joined = "\n".join(lines)
    assert src.token not in joined and src.credential not in joined and "PAYLOAD-MARKER" not in joined


def test_large_batch_is_decoded_off_the_event_loop_and_stored_whole(client, src):
    from source_zoho_desk.collector.service_url import OFFLOAD_BYTES

    batch = [event(entity=str(i), payload={"id": str(i), "text": "y" * 1000}) for i in range(200)]
    assert len(json.dumps(batch)) > OFFLOAD_BYTES
    assert client.post(src.hook, json=batch).json() == {"stored": 200, "duplicates": 0}
    head = client.get(f"/v1/sources/{src.id}/partitions/tickets/head", headers=src.drain_headers()).json()
    fresh = [event(entity=f"n{i}", payload={"id": f"n{i}", "text": "z" * 1000}) for i in range(150)]
    assert client.post(src.hook, json=[*fresh, event(entity="x", org="1")]).status_code == 403
    after = client.get(f"/v1/sources/{src.id}/partitions/tickets/head", headers=src.drain_headers()).json()
    assert after == head  # none of the 150 valid events of the refused batch was stored
    ids = [e["payload"]["id"] for e in drain(client, src, limit=1000).json()["events"]]
    assert ids == [str(i) for i in range(200)]


def test_deliveries_are_summarised_per_interval_and_logged_one_by_one_only_at_debug(client, src, caplog):
    import logging

    from source_zoho_desk.collector.service_url import RequestSummary

    caplog.set_level(logging.INFO, logger="source_zoho_desk")
    assert client.post(src.hook, json=[event(entity="1")]).status_code == 200
    assert not [r for r in caplog.records if r.getMessage() == "request" and r.name.startswith("source_zoho")]

    now = [0.0]
    summary = RequestSummary(interval_s=60, clock=lambda: now[0])
    summary.record(200, 3)
    summary.record(400, 0)
    assert not [r for r in caplog.records if r.getMessage() == "service URL requests"]  # not yet a minute
    now[0] = 61.0
    summary.record(200, 2)
    (line,) = [r for r in caplog.records if r.getMessage() == "service URL requests"]
    assert (line.requests, line.by_status, line.events_stored, line.path) == (3, {200: 2, 400: 1}, 5, "/hooks/<token>")
    summary.flush()  # nothing new since: no second line
    assert len([r for r in caplog.records if r.getMessage() == "service URL requests"]) == 1
