"""oas_facts.json (the fake Zoho server's view of the API) and the OAS reader that derives it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tools.extract_oas_facts import build_facts, dump
from tools.oas import OASFolder, find_oas_dir, merge_composites

REPO_ROOT = Path(__file__).resolve().parent.parent
FACTS_PATH = REPO_ROOT / "integration_tests" / "fake_zoho" / "oas_facts.json"

# stream operation -> (list key, page maximum) from the stream table in the README's Streams table;
# None = not paged (Zoho answers 422 to from/limit there).
STREAM_OPERATIONS: dict[str, tuple[str, int | None]] = {
    "GET /tickets": ("data", 100),
    "GET /departments": ("data", 200),
    "GET /products": ("data", 100),
    "GET /contracts": ("data", 100),
    "GET /organizationFields": ("data", None),
    "GET /contacts": ("data", 99),
    "GET /accounts": ("data", 99),
    "GET /agents": ("data", 200),
    "GET /teams": ("teams", None),
    "GET /tasks": ("data", 99),
    "GET /calls": ("data", 99),
    "GET /events": ("data", 99),
    "GET /articles": ("data", 50),
    "GET /layouts": ("data", 99),
    "GET /organizationModules": ("data", None),
    "GET /tickets/{ticketId}/threads": ("data", 200),
    "GET /tickets/{ticketId}/comments": ("data", 100),
    "GET /tickets/{ticketId}/attachments": ("data", 100),
    "GET /tickets/{ticketId}/timeEntry": ("data", 100),
}
SEARCH_OPERATIONS = [
    f"GET /{m}/search"
    for m in ("tickets", "contacts", "accounts", "products", "tasks", "calls", "events", "articles")
]

# zoho-desk-notes.md section 6, event table (taken from Webhook.json's subscription schema).
WEBHOOK_EVENTS = """
Ticket_Add Ticket_Update Ticket_Delete Ticket_Thread_Add Ticket_Comment_Add Ticket_Comment_Update
Ticket_Approval_Add Ticket_Approval_Update Ticket_Attachment_Add Ticket_Attachment_Update
Ticket_Attachment_Delete Ticket_Attachment_Trashed Ticket_Attachment_Restored Ticket_Comment_Attachment_Add
Ticket_Comment_Attachment_Delete Contact_Add Contact_Update Contact_Delete Account_Add Account_Update
Account_Delete Agent_Add Agent_Update Agent_Delete Agent_Presence_Update Agent_Channel_Preference_Update
Department_Add Department_Update Task_Add Task_Update Task_Delete Call_Add Call_Update Call_Delete
Event_Add Event_Update Event_Delete TimeEntry_Add TimeEntry_Update TimeEntry_Delete Article_Add
Article_Update Article_Delete Article_Translation_Add Article_Translation_Update Article_Translation_Delete
Article_Feedback_Add KBRootCategory_Add KBRootCategory_Update KBRootCategory_Delete KBSection_Add
KBSection_Update KBSection_Delete IM_Message_Add IM_Message_Status IM_Session_Status
""".split()


def oas_dir_or_skip() -> Path:
    """The OAS folder; a skip on a user's clone, but a failure under CI where ../shared must exist."""
    explicit = os.environ.get("ZOHO_OAS_DIR")
    if explicit and not Path(explicit).is_dir():
        pytest.fail(f"ZOHO_OAS_DIR={explicit} is not a directory")
    found = find_oas_dir(REPO_ROOT)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but the zohodesk-oas folder is missing (set ZOHO_OAS_DIR or provide ../shared)")
        pytest.skip("zohodesk-oas folder not available (set ZOHO_OAS_DIR to run the regeneration check)")
    return found


@pytest.fixture(scope="module")
def facts() -> dict[str, Any]:
    return json.loads(FACTS_PATH.read_text(encoding="utf-8"))


def test_facts_header_and_size(facts):
    assert facts["source"] == "zoho/zohodesk-oas v1.0 (derived facts)"
    # Derived, trimmed facts only: a copy of the OAS (~2 MB with descriptions) must never land here.
    assert FACTS_PATH.stat().st_size < 1_000_000
    text = FACTS_PATH.read_text(encoding="utf-8")
    assert '"description": "' not in text.replace('"description": {', "")
    assert '"examples"' not in text and '"pattern"' not in text


@pytest.mark.parametrize("key", sorted(STREAM_OPERATIONS))
def test_stream_operations_list_key_and_limit(facts, key):
    op = facts["operations"][key]
    list_key, page_max = STREAM_OPERATIONS[key]
    assert op["list_key"] == list_key
    assert "orgId" not in op["query"]
    assert op["item_schema"]["properties"]["id"]["type"]
    if page_max is None:
        assert "limit" not in op["query"] and "from" not in op["query"]
    else:
        limit = op["query"]["limit"]
        assert limit["maximum"] == page_max
        assert limit["limit_source"] in ("oas", "notes")
        assert "from" in op["query"]


def test_notes_limits_are_marked(facts):
    tickets = facts["operations"]["GET /tickets"]["query"]["limit"]
    assert tickets == {
        **tickets,
        "minimum": 1,
        "maximum": 100,
        "default": 25,
        "limit_source": "notes",
        "type": "integer",
        "required": False,
    }
    assert facts["operations"]["GET /departments"]["query"]["limit"]["limit_source"] == "oas"
    # What neither the OAS nor the notes settle stays visibly open.
    for key in facts["limit_max_open"]:
        assert facts["operations"][key]["query"]["limit"]["maximum"] is None
    assert "GET /tickets" not in facts["limit_max_open"]


def test_organization_fields_alias_and_required_module(facts):
    alias = facts["operations"]["GET /organizationFields"]
    assert alias["alias_of"] == "GET /fields"
    assert alias["operationId"] == facts["operations"]["GET /fields"]["operationId"] == "getFields"
    assert alias["query"]["module"]["required"] is True
    assert facts["operations"]["GET /layouts"]["query"]["module"]["required"] is True


def test_time_entry_alias_uses_ticket_id(facts):
    op = facts["operations"]["GET /tickets/{ticketId}/timeEntry"]
    assert op["path_params"] == ["ticketId"]
    assert op["operationId"] == "getTicketTimeEntries"


def test_scopes(facts):
    ops = facts["operations"]
    assert ops["GET /tickets"]["scopes"] == ["Desk.tickets.READ"]
    assert "Desk.search.READ" in ops["GET /tickets/search"]["scopes"]
    assert "Desk.webhooks.CREATE" in ops["POST /webhooks"]["scopes"]


@pytest.mark.parametrize("key", SEARCH_OPERATIONS)
def test_search_operations(facts, key):
    query = facts["operations"][key]["query"]
    assert query["limit"]["maximum"] == 100
    assert query["from"]["maximum"] == 999
    assert "modifiedTimeRange" in query


def test_webhook_operations_have_request_schemas(facts):
    post = facts["operations"]["POST /webhooks"]
    body = post["request_schema"]["properties"]
    assert {"url", "subscriptions", "name", "isEnabled", "includeEventsFrom", "ignoreSourceId"} <= set(body)
    assert set(body["subscriptions"]["properties"]) == set(WEBHOOK_EVENTS)
    assert facts["operations"]["PATCH /webhooks/{webhookId}"]["request_schema"]["properties"]["url"]
    assert facts["operations"]["DELETE /webhooks/{webhookId}"]["path_params"] == ["webhookId"]
    assert facts["operations"]["GET /webhooks"]["list_key"] == "data"


def test_webhook_events(facts):
    events = facts["webhook_events"]
    assert sorted(events) == sorted(WEBHOOK_EVENTS)
    assert "Department_Delete" not in events
    assert events["Ticket_Update"]["includePrevState"] is True
    assert "fields" in events["Ticket_Update"]["filters"]
    assert events["Ticket_Add"]["includePrevState"] is False
    assert "departmentIds" in events["Ticket_Add"]["filters"]
    assert "direction" in events["Ticket_Thread_Add"]["filters"]
    assert events["Contact_Delete"] == {"filters": [], "includePrevState": False, "takes_filter_object": False}
    with_prev = {name for name, e in events.items() if e["includePrevState"]}
    assert {"Contact_Update", "Account_Update", "TimeEntry_Update", "Ticket_Approval_Update"} <= with_prev


def test_facts_match_a_fresh_extraction():
    oas_dir = oas_dir_or_skip()
    assert dump(build_facts(oas_dir)) == FACTS_PATH.read_text(encoding="utf-8"), (
        "oas_facts.json is stale: run python tools/extract_oas_facts.py"
    )


# The reader itself, on a tiny OAS folder shaped like Zoho's (cross-file refs, allOf envelopes, gaps).
def _write(folder: Path, name: str, doc: dict[str, Any]) -> None:
    (folder / name).write_text(json.dumps(doc), encoding="utf-8")


@pytest.fixture
def tiny_oas(tmp_path: Path) -> Path:
    _write(
        tmp_path,
        "Common.json",
        {
            "components": {
                "parameters": {
                    "orgId": {"name": "orgId", "in": "query", "required": True, "schema": {"type": "string"}},
                    "limit": {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": ["integer"], "minimum": 1, "maximum": 50, "default": 10},
                    },
                },
                "schemas": {"user": {"type": "object", "properties": {"id": {"type": ["string", "integer"]}}}},
            }
        },
    )
    _write(
        tmp_path,
        "Thing.json",
        {
            "paths": {
                "/api/v1/things": {
                    "get": {
                        "operationId": "getThings",
                        "parameters": [
                            {"$ref": "./Common.json#/components/parameters/orgId"},
                            {"$ref": "./Common.json#/components/parameters/limit"},
                            {
                                "name": "sortBy",
                                "in": "query",
                                "schema": {"type": "string", "enum": ["createdTime", "name"]},
                            },
                        ],
                        "responses": {"200": {"$ref": "#/components/responses/list"}},
                        "security": [{"oauth": ["Desk.things.READ", "Desk.basic.READ"]}],
                    }
                },
                "/api/v1/things/{thingId}": {
                    "parameters": [{"name": "thingId", "in": "path", "required": True, "schema": {}}],
                    "get": {"responses": {"200": {"$ref": "#/components/responses/one"}}},
                },
            },
            "components": {
                "responses": {
                    "list": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "allOf": [
                                        {"$ref": "#/components/schemas/envelope"},
                                        {
                                            "type": "object",
                                            "properties": {
                                                "data": {"items": {"$ref": "#/components/schemas/extra"}}
                                            },
                                        },
                                    ]
                                }
                            }
                        }
                    },
                    "one": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/thing"}}}},
                },
                "schemas": {
                    "envelope": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/thing"}}},
                    },
                    "extra": {"type": "object", "properties": {"extraField": {"type": "boolean"}}},
                    "thing": {
                        "type": "object",
                        "properties": {
                            "id": {"type": ["string", "integer"], "format": "int64"},
                            "owner": {"$ref": "./Common.json#/components/schemas/user"},
                            "parent": {"$ref": "#/components/schemas/thing"},
                            "plan": {"$ref": "./Missing.json#/components/schemas/plan"},
                        },
                    },
                },
            },
        },
    )
    return tmp_path


def test_reader_resolves_refs_params_scopes_and_envelopes(tiny_oas):
    oas = OASFolder(tiny_oas)
    ops = {op.key: op for op in oas.operations()}
    assert set(ops) == {"GET /things", "GET /things/{thingId}"}
    things = ops["GET /things"]
    assert things.operation_id == "getThings" and things.file == "Thing.json"
    assert things.scopes == ["Desk.things.READ", "Desk.basic.READ"]
    limit = things.query["limit"]
    assert (limit.type, limit.minimum, limit.maximum, limit.default) == ("integer", 1, 50, 10)
    assert things.query["orgId"].required is True
    assert things.query["sortBy"].enum == ["createdTime", "name"]
    assert ops["GET /things/{thingId}"].path_params == ["thingId"]
    assert [p.location for p in ops["GET /things/{thingId}"].parameters] == ["path"]

    body = merge_composites(things.response_200)
    item = body["properties"]["data"]["items"]
    # allOf fragments merge into one item, and one closed fragment does not close the merge.
    assert set(item["properties"]) == {"id", "owner", "parent", "plan", "extraField"}
    assert "additionalProperties" not in body
    assert item["properties"]["owner"]["properties"]["id"]["type"] == ["string", "integer"]
    # A ref back into its own expansion and a ref into an absent file both become open schemas.
    assert item["properties"]["parent"] == {}
    assert item["properties"]["plan"] == {}
    assert "Missing.json#/components/schemas/plan" in oas.missing_refs


def test_extractor_on_tiny_oas(tiny_oas):
    from tools.extract_oas_facts import operation_facts

    ops = {op.key: op for op in OASFolder(tiny_oas).operations()}
    facts = operation_facts(ops["GET /things"])
    assert facts["list_key"] == "data"
    assert "orgId" not in facts["query"]
    assert facts["query"]["limit"]["limit_source"] == "oas"
    assert facts["item_schema"]["properties"]["extraField"] == {"type": "boolean"}
    single = operation_facts(ops["GET /things/{thingId}"])
    assert single["list_key"] is None
    assert "id" in single["item_schema"]["properties"]
