"""QueueClient error handling: retries on 5xx/connection errors, config-naming auth errors, paging stops."""

from __future__ import annotations

import pytest
import requests

from source_zoho_desk.queue_client import (
    CollectorAuthError,
    CollectorProtocolError,
    CollectorUnavailable,
    QueueClient,
)

BASE = "http://collector.test"
EVENTS = f"{BASE}/v1/sources/ds_1/partitions/tickets/events"


def client(**kw) -> QueueClient:
    return QueueClient(BASE + "/", "zdc_cred", "ds_1", backoff_s=0, **kw)


def page(*seqs):
    return {"events": [{"seq": s, "event_type": "Ticket_Add", "event_time_ms": 1, "org_id": "1",
                        "payload": {"id": str(s)}, "prev_state": None, "received_at_ms": 2} for s in seqs]}


def test_sends_credential_and_params(requests_mock):
    requests_mock.get(EVENTS, json=page(5))
    (e,) = client().drain("tickets", 4, 10)
    assert e.seq == 5 and e.payload == {"id": "5"} and e.received_at == 2
    req = requests_mock.last_request
    assert req.headers["Authorization"] == "Bearer zdc_cred" and req.qs == {"after_seq": ["4"], "limit": ["10"]}


def test_retries_5xx_then_succeeds(requests_mock):
    requests_mock.get(EVENTS, [{"status_code": 503}, {"status_code": 502}, {"json": page(1)}])
    assert [e.seq for e in client().drain("tickets", 0, 10)] == [1]
    assert requests_mock.call_count == 3


def test_gives_up_with_collector_unavailable(requests_mock):
    requests_mock.get(EVENTS, status_code=500)
    with pytest.raises(CollectorUnavailable, match="HTTP 500"):
        client(retries=2).drain("tickets", 0, 10)
    assert requests_mock.call_count == 3


def test_connection_errors_are_retried(requests_mock):
    requests_mock.get(EVENTS, [{"exc": requests.ConnectionError("refused")}, {"json": page()}])
    assert client().drain("tickets", 0, 10) == []


@pytest.mark.parametrize("status, field", [(401, "incremental.collector_credential"),
                                           (403, "incremental.data_source_id"), (404, "incremental.collector_url")])
def test_auth_errors_name_the_config_field_and_are_not_retried(requests_mock, status, field):
    requests_mock.get(EVENTS, status_code=status)
    with pytest.raises(CollectorAuthError, match=field):
        client().drain("tickets", 0, 10)
    assert requests_mock.call_count == 1


def test_other_4xx_is_a_protocol_error(requests_mock):
    requests_mock.get(EVENTS, status_code=400, json={"error": "bad_request"})
    with pytest.raises(CollectorProtocolError):
        client().drain("tickets", 0, 10)


def test_iter_events_pages_until_a_short_page(requests_mock):
    requests_mock.get(EVENTS, [{"json": page(1, 2)}, {"json": page(3, 4)}, {"json": page(7)}])
    assert [e.seq for e in client().iter_events("tickets", 0, page_size=2)] == [1, 2, 3, 4, 7]
    assert [r.qs["after_seq"] for r in requests_mock.request_history] == [["0"], ["2"], ["4"]]


def test_acknowledge_posts_upto_seq(requests_mock):
    ack = requests_mock.post(f"{BASE}/v1/sources/ds_1/partitions/tickets/ack", json={"deleted": 1})
    client().acknowledge("tickets", 42)
    assert ack.last_request.json() == {"upto_seq": 42}


def test_head(requests_mock):
    requests_mock.get(f"{BASE}/v1/sources/ds_1/partitions/tickets/head", json={"head_seq": 9})
    assert client().head("tickets") == 9


def test_ack_ahead_of_the_queue_explains_itself(requests_mock):
    requests_mock.post(f"{BASE}/v1/sources/ds_1/partitions/tickets/ack", status_code=409,
                       json={"error": "ack_beyond_head", "message": "upto_seq 9 is beyond the last sequence number 3"})
    with pytest.raises(CollectorProtocolError, match="Reset this connection's state"):
        client().acknowledge("tickets", 9)
