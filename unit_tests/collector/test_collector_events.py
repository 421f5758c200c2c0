"""eventType -> partition routing (table-tested against every event in Zoho's OAS) and event validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from source_zoho_desk.collector.events import (
    PARTITIONS,
    UNKNOWN_PARTITION,
    EventError,
    normalise,
    normalise_batch,
    parse_body,
    partition_for,
)

OAS_FACTS = Path(__file__).resolve().parents[2] / "integration_tests" / "fake_zoho" / "oas_facts.json"

# The expected partition of every webhook event in Zoho's OAS Webhook.json (subscriptions schema).
EXPECTED = {
    "Ticket_Add": "tickets",
    "Ticket_Update": "tickets",
    "Ticket_Delete": "tickets",
    "Ticket_Thread_Add": "ticket_threads",
    "Ticket_Comment_Add": "ticket_comments",
    "Ticket_Comment_Update": "ticket_comments",
    "Ticket_Approval_Add": "ticket_approvals",
    "Ticket_Approval_Update": "ticket_approvals",
    "Ticket_Attachment_Add": "ticket_attachments",
    "Ticket_Attachment_Update": "ticket_attachments",
    "Ticket_Attachment_Delete": "ticket_attachments",
    "Ticket_Attachment_Trashed": "ticket_attachments",
    "Ticket_Attachment_Restored": "ticket_attachments",
    "Ticket_Comment_Attachment_Add": "ticket_comment_attachments",
    "Ticket_Comment_Attachment_Delete": "ticket_comment_attachments",
    "Contact_Add": "contacts",
    "Contact_Update": "contacts",
    "Contact_Delete": "contacts",
    "Account_Add": "accounts",
    "Account_Update": "accounts",
    "Account_Delete": "accounts",
    "Agent_Add": "agents",
    "Agent_Update": "agents",
    "Agent_Delete": "agents",
    "Agent_Presence_Update": "agent_presence",
    "Agent_Channel_Preference_Update": "agent_channel_preferences",
    "Department_Add": "departments",
    "Department_Update": "departments",
    "Task_Add": "tasks",
    "Task_Update": "tasks",
    "Task_Delete": "tasks",
    "Call_Add": "calls",
    "Call_Update": "calls",
    "Call_Delete": "calls",
    "Event_Add": "events",
    "Event_Update": "events",
    "Event_Delete": "events",
    "TimeEntry_Add": "ticket_time_entries",
    "TimeEntry_Update": "ticket_time_entries",
    "TimeEntry_Delete": "ticket_time_entries",
    "Article_Add": "articles",
    "Article_Update": "articles",
    "Article_Delete": "articles",
    "Article_Translation_Add": "article_translations",
    "Article_Translation_Update": "article_translations",
    "Article_Translation_Delete": "article_translations",
    "Article_Feedback_Add": "article_feedback",
    "KBRootCategory_Add": "kb_root_categories",
    "KBRootCategory_Update": "kb_root_categories",
    "KBRootCategory_Delete": "kb_root_categories",
    "KBSection_Add": "kb_sections",
    "KBSection_Update": "kb_sections",
    "KBSection_Delete": "kb_sections",
    "IM_Message_Add": "im_messages",
    "IM_Message_Status": "im_messages",
    "IM_Session_Status": "im_sessions",
}

# Stream names from the README's Streams table that webhooks feed: a routing typo here would starve a stream.
STREAM_PARTITIONS = {
    "tickets", "ticket_threads", "ticket_comments", "ticket_attachments", "contacts", "accounts", "agents",
    "departments", "tasks", "calls", "events", "articles", "ticket_time_entries",
}


def oas_webhook_events() -> list[str]:
    return sorted(json.loads(OAS_FACTS.read_text())["webhook_events"])


def test_table_covers_exactly_the_oas_events():
    events = oas_webhook_events()
    assert len(events) >= 56
    assert set(events) == set(EXPECTED), "Webhook.json and the expected table disagree: update both"


@pytest.mark.parametrize("event_type", oas_webhook_events())
def test_every_oas_event_routes_to_its_partition(event_type):
    assert event_type in PARTITIONS, f"{event_type} is a Zoho event but falls into the unknown partition"
    assert partition_for(event_type) == EXPECTED[event_type]


def test_stream_partitions_are_all_fed():
    assert STREAM_PARTITIONS <= set(PARTITIONS.values())


def test_tapdata_kb_spelling_lands_with_the_oas_spelling():
    assert partition_for("KB_RootCategory_Add") == partition_for("KBRootCategory_Add")
    assert partition_for("KB_Section_Delete") == partition_for("KBSection_Delete")


@pytest.mark.parametrize("event_type", ["Ticket_Frobnicate", "Foo", "Ticket", "ticket_add"])
def test_unknown_event_types_are_kept_in_the_unknown_partition(event_type):
    ev = normalise({"eventType": event_type, "orgId": "1", "payload": {"id": 1}}, "1", 5)
    assert ev.partition == UNKNOWN_PARTITION and not ev.known


def test_parse_body_accepts_array_object_and_empty():
    assert parse_body(b'[{"a": 1}]') == [{"a": 1}]
    assert parse_body(b'{"a": 1}') == [{"a": 1}]
    assert parse_body(b"  \n") == []
    assert parse_body("\ufeff[]".encode()) == []


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"not json", "invalid_json"),
        (b"\xff\xfe[]", "invalid_json"),
        (b"[NaN]", "invalid_json"),
        (b'{"a": Infinity}', "invalid_json"),
        (b"[" * 100000, "invalid_json"),
        (b'"a string"', "invalid_shape"),
        (b"42", "invalid_shape"),
        (b"null", "invalid_shape"),
    ],
)
def test_parse_body_rejects(raw, reason):
    with pytest.raises(EventError) as exc:
        parse_body(raw)
    assert exc.value.reason == reason


def test_parse_body_keeps_every_digit_of_integers_beyond_64_bits():
    # orjson would turn these into floats; such bodies go through the standard library
    big = 123456789012345678901234567890
    assert parse_body(b'[{"n": %d, "m": 18446744073709551615}]' % big) == [{"n": big, "m": 2**64 - 1}]
    ev = normalise({"eventType": "Ticket_Add", "orgId": "1", "payload": {"n": big}}, "1", 5)
    assert json.loads(ev.payload_json) == {"n": big}


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1" * 400 + b".0"])
def test_numbers_overflowing_a_double_are_refused_not_stored_as_infinity(number):
    with pytest.raises(EventError) as exc:
        parse_body(b'{"eventType": "Ticket_Add", "orgId": "1", "payload": {"n": %s}}' % number)
    assert exc.value.reason == "invalid_json"


def test_canonical_text_is_sorted_compact_json_whatever_the_key_order():
    a = normalise({"eventType": "Ticket_Add", "orgId": "1", "payload": {"b": [1, 2.5], "a": "é"}}, "1", 5)
    b = normalise({"eventType": "Ticket_Add", "orgId": "1", "payload": {"a": "é", "b": [1, 2.5]}}, "1", 5)
    assert a.payload_json == b.payload_json == '{"a":"é","b":[1,2.5]}' and a.dedupe_key == b.dedupe_key


def test_normalise_full_event():
    ev = normalise(
        {
            "eventType": "Ticket_Update",
            "eventTime": "1700000000123",
            "orgId": 42,
            "payload": {"id": "99", "subject": "é \ud800"},
            "prevState": {"status": "Open"},
        },
        "42",
        5,
    )
    assert (ev.event_type, ev.partition, ev.event_time_ms, ev.org_id, ev.entity_id) == (
        "Ticket_Update", "tickets", 1700000000123, "42", "99")
    assert json.loads(ev.payload_json) == {"id": "99", "subject": "é \ud800"}
    assert ev.payload_json.isascii()  # lone surrogates survive as escapes, storable as UTF-8
    assert json.loads(ev.prev_state_json) == {"status": "Open"}


def test_event_time_defaults_to_receive_time_and_accepts_ints():
    assert normalise({"eventType": "Ticket_Add", "orgId": "1", "payload": {}}, "1", 777).event_time_ms == 777
    with_int = {"eventType": "Ticket_Add", "orgId": "1", "eventTime": 5, "payload": {}}
    assert normalise(with_int, "1", 7).event_time_ms == 5


@pytest.mark.parametrize(
    "raw, reason",
    [
        ([], "invalid_event"),
        ({"orgId": "1", "payload": {}}, "missing_event_type"),
        ({"eventType": "", "orgId": "1", "payload": {}}, "missing_event_type"),
        ({"eventType": 5, "orgId": "1", "payload": {}}, "missing_event_type"),
        ({"eventType": "Ticket Add!", "orgId": "1", "payload": {}}, "invalid_event_type"),
        ({"eventType": "Ticket_Add", "orgId": "1"}, "missing_payload"),
        ({"eventType": "Ticket_Add", "orgId": "1", "payload": None}, "missing_payload"),
        ({"eventType": "Ticket_Add", "orgId": "1", "payload": "x"}, "invalid_payload"),
        ({"eventType": "Ticket_Add", "payload": {}}, "missing_org"),
        ({"eventType": "Ticket_Add", "orgId": "2", "payload": {}}, "wrong_org"),
        ({"eventType": "Ticket_Add", "orgId": True, "payload": {}}, "wrong_org"),
        ({"eventType": "Ticket_Add", "orgId": "1", "eventTime": "soon", "payload": {}}, "invalid_event_time"),
        ({"eventType": "Ticket_Add", "orgId": "1", "eventTime": -1, "payload": {}}, "invalid_event_time"),
        ({"eventType": "Ticket_Add", "orgId": "1", "eventTime": 1.5, "payload": {}}, "invalid_event_time"),
        ({"eventType": "Ticket_Add", "orgId": "1", "eventTime": "١٢٣", "payload": {}}, "invalid_event_time"),
        ({"eventType": "Ticket_Add", "orgId": "1", "payload": {}, "prevState": 3}, "invalid_prev_state"),
    ],
)
def test_normalise_rejects(raw, reason):
    with pytest.raises(EventError) as exc:
        normalise(raw, "1", 5)
    assert exc.value.reason == reason


def test_batch_is_all_or_nothing():
    good = {"eventType": "Ticket_Add", "orgId": "1", "payload": {"id": 1}}
    with pytest.raises(EventError):
        normalise_batch([good, good, {"eventType": "Ticket_Add", "orgId": "2", "payload": {}}], "1", 5)


def test_duplicate_key_identifies_a_redelivery_only():
    base = {"eventType": "Ticket_Update", "orgId": "1", "eventTime": "10", "payload": {"id": "7", "s": "a"}}
    key = normalise(base, "1", 5).dedupe_key
    assert normalise(dict(base), "1", 999).dedupe_key == key  # a retry, later
    assert normalise({**base, "payload": {"s": "a", "id": "7"}}, "1", 5).dedupe_key == key  # key order
    assert normalise({**base, "eventTime": "11"}, "1", 5).dedupe_key != key
    assert normalise({**base, "payload": {"id": "7", "s": "b"}}, "1", 5).dedupe_key != key
    assert normalise({**base, "eventType": "Ticket_Add"}, "1", 5).dedupe_key != key
