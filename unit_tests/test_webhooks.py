"""webhooks.py without a server: the event table against the collector and the OAS, and Zoho errors → one line."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import requests

from source_zoho_desk.collector.events import PARTITIONS
from source_zoho_desk.config import ZohoDeskConfig
from source_zoho_desk.webhooks import (
    PREV_STATE_EVENTS,
    STREAM_EVENTS,
    USAGE,
    DeskWebhooks,
    WebhookError,
    parse_streams,
    reachability_hint,
    redact_url,
    subscriptions_for,
)

FACTS = json.loads((Path(__file__).resolve().parent.parent / "integration_tests" / "fake_zoho" /
                    "oas_facts.json").read_text())
OAS_EVENTS: dict[str, dict] = FACTS["webhook_events"]


def test_every_subscribed_event_exists_in_zoho_and_routes_to_its_stream():
    for stream, events in STREAM_EVENTS.items():
        for event in events:
            assert event in OAS_EVENTS, event
            # The collector files the event under the stream it was subscribed for.
            assert PARTITIONS[event] == stream
    # Conversely every event the collector routes to a stream's partition is subscribed for it.
    routed = {e for e, p in PARTITIONS.items() if p in STREAM_EVENTS}
    assert routed == {e for events in STREAM_EVENTS.values() for e in events}
    assert "Department_Delete" not in OAS_EVENTS and STREAM_EVENTS["departments"] == (
        "Department_Add", "Department_Update")


def test_prev_state_events_are_exactly_those_the_oas_allows():
    assert PREV_STATE_EVENTS == {e for e, spec in OAS_EVENTS.items() if spec["includePrevState"]}


def relaxed(schema: dict) -> dict:
    """The request schema without `required`/min/maxProperties on the filter objects.

    Webhook.json marks every filter key as required (Ticket_Update would need departmentId, departmentIds,
    fields and includePrevState at once), yet Zoho's own request example in the same file sends
    {"Ticket_Update": {"departmentIds": [...]}} and Sim's live call sends {"includePrevState": true}: the
    generator lists all keys, the API does not require them. Types and additionalProperties stay checked.
    """
    schema = copy.deepcopy(schema)
    for event in schema["properties"]["subscriptions"]["properties"].values():
        for key in ("required", "minProperties", "maxProperties"):
            event.pop(key, None)
    return schema


@pytest.mark.parametrize("operation", ["POST /webhooks", "PATCH /webhooks/{webhookId}"])
def test_register_body_is_valid_against_zohos_request_schema(operation):
    schema = relaxed(FACTS["operations"][operation]["request_schema"])
    body = {"name": "airbyte-source-zoho-desk", "url": "https://collector.example.com/hooks/abc",
            "description": "Registered by source-zoho-desk", "isEnabled": True,
            "includeEventsFrom": ["AUTOMATION"], "subscriptions": subscriptions_for(STREAM_EVENTS)}
    jsonschema.validate(body, schema)
    # includePrevState on an event that does not allow it would be refused: the schema really checks this.
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**body, "subscriptions": {"Ticket_Add": {"includePrevState": True}}}, schema)


def test_subscriptions_use_null_or_prev_state_only():
    subs = subscriptions_for(["tickets", "ticket_comments"])
    assert subs == {"Ticket_Add": None, "Ticket_Update": {"includePrevState": True}, "Ticket_Delete": None,
                    "Ticket_Comment_Add": None, "Ticket_Comment_Update": None}
    for event, value in subscriptions_for(STREAM_EVENTS).items():
        if not OAS_EVENTS[event]["takes_filter_object"]:
            assert value is None, event


def test_parse_streams():
    assert parse_streams(None) == tuple(STREAM_EVENTS) == parse_streams(" ")
    assert parse_streams("contacts, tickets,contacts") == ("tickets", "contacts")
    with pytest.raises(WebhookError) as no_events:
        parse_streams("teams")
    assert no_events.value.exit_code == USAGE and "polling only" in no_events.value.message
    with pytest.raises(WebhookError, match="Unknown stream 'ticket'"):
        parse_streams("ticket")


def test_urls_are_redacted_and_unreachable_ones_explained():
    url = "https://collector.example.com/hooks/BAPs8noskNOfLO-U5YirfVZlPFU7XMrNQkBePJ07p6I"
    assert redact_url(url) == "https://collector.example.com/hooks/BAPs…"
    assert reachability_hint(url) == ""
    assert reachability_hint("http://10.1.2.3:8080/hooks/x") == " (10.1.2.3 is a private or loopback address; " \
                                                                "port 8080 is not 80/443)"
    assert reachability_hint("http://localhost/hooks/x") == " (localhost is a private or loopback address)"


def client(raw_config) -> DeskWebhooks:
    return DeskWebhooks(ZohoDeskConfig.from_mapping(raw_config), requests.auth.HTTPBasicAuth("u", "p"))


def response(status: int, body: dict, url: str = "https://desk.example.test/api/v1/webhooks") -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = json.dumps(body).encode()
    r.request = requests.Request("POST", url).prepare()
    return r


def limit(maximum: str, edition: str = "PROFESSIONAL") -> requests.Response:
    return response(403, {"errorCode": "LICENSE_ACCESS_LIMITED", "message": "limit", "maxAllowedEntity": maximum,
                          "feature": "WEBHOOKS", "editionType": edition, "isTrial": False})


def test_limit_messages(raw_config):
    c = client(raw_config)
    five_enabled = [{"id": str(i), "isEnabled": True} for i in range(5)]
    message = c.explain(limit("5"), "create the webhook", known=five_enabled).message
    assert message.startswith("Zoho Desk allows 5 enabled webhooks on this edition (Professional 5, Enterprise 10")
    assert "Setup → Developer Space → Webhooks" in message and "webhook remove" in message
    twenty_off = [{"id": str(i), "isEnabled": False} for i in range(20)]
    assert "20 webhooks per organisation, enabled or not" in c.explain(limit("20"), "x", known=twenty_off).message
    assert "Standard edition has no webhooks" in c.explain(limit("0", "STANDARD"), "x").message
    assert "incremental.mode to polling" in c.explain(limit("0", "STANDARD"), "x").message


def test_url_validation_is_told_apart_from_schema_errors(raw_config):
    c = client(raw_config)
    url = "https://collector.example.com/hooks/secrettoken123"
    unreachable = response(422, {"errorCode": "UNPROCESSABLE_ENTITY",
                                 "message": f"The URL '{url}' did not respond with 200 OK to the validation request."})
    message = c.explain(unreachable, "create the webhook", validating_url=url).message
    assert message.startswith("Zoho Desk could not reach the service URL https://collector.example.com/hooks/secr…")
    assert "secrettoken123" not in message
    schema = response(422, {"errorCode": "INVALID_DATA", "message": "The filters given are not supported.",
                            "errors": [{"fieldName": "/subscriptions/Ticket_Add", "errorType": "invalid"}]})
    message = c.explain(schema, "create the webhook", validating_url=url).message
    assert "connector bug" in message and "/subscriptions/Ticket_Add invalid" in message
    # Without a URL being validated (e.g. a PATCH that keeps it) a 422 is never blamed on reachability.
    assert "connector bug" in c.explain(unreachable, "update webhook 1").message


def test_other_zoho_errors_name_their_fix(raw_config):
    c = client(raw_config)
    scope = c.explain(response(403, {"errorCode": "SCOPE_MISMATCH", "message": "no scope"}), "list the webhooks")
    assert "Desk.webhooks.ALL (or Desk.settings.ALL / Desk.events.ALL)" in scope.message
    assert "profile with the Webhooks permission" in c.explain(
        response(403, {"errorCode": "FORBIDDEN", "message": "no"}), "create the webhook").message
    assert "OAUTH_ORG_MISMATCH" in c.explain(response(403, {"errorCode": "OAUTH_ORG_MISMATCH"}), "x").message
    assert "another data centre" in c.explain(response(401, {"errorCode": "INVALID_OAUTH"}), "x").message
    assert "retry later" in c.explain(response(429, {"errorCode": "TOO_MANY_REQUESTS"}), "x").message
    multi_line = c.explain(response(500, {"errorCode": "INTERNAL_SERVER_ERROR", "message": "a\nb"}), "x").message
    assert "\n" not in multi_line
