"""The committed stream schemas: one per stream, valid draft-07, Zoho's ids and times typed the way records are."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, FormatChecker

from source_zoho_desk.records import RecordShape
from tools.generate_schemas import STREAMS, generate
from unit_tests.test_oas_facts import oas_dir_or_skip

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = REPO_ROOT / "source_zoho_desk" / "schemas"
STREAM_NAMES = [s.name for s in STREAMS]
CHILD_STREAMS = {"ticket_threads", "ticket_comments", "ticket_attachments", "ticket_time_entries"}
MODULE_STREAMS = {"organization_fields", "layouts"}
SEARCH_STREAMS = {"tickets", "contacts", "accounts", "products", "tasks", "calls", "events", "articles"}
TIME_NAME = re.compile(r"(Time|Date|DateTime)$")
# The OAS gives these a YYYY-MM-DD pattern: plain dates, not instants.
DATE_ONLY = {("contracts", "startDate"), ("contracts", "endDate")}

# jsonschema only checks date-time when an optional package is installed; check it ourselves.
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # formats constrain strings only; null is allowed by the type
    if "T" not in value:
        return False
    return datetime.fromisoformat(value).tzinfo is not None


def load(stream: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{stream}.json").read_text(encoding="utf-8"))


def walk(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, property name, property schema) for every property, nested objects and array items included."""
    for name, sub in (schema.get("properties") or {}).items():
        yield f"{path}{name}", name, sub
        yield from walk(sub, f"{path}{name}.")
        items = sub.get("items")
        if isinstance(items, dict):
            yield from walk(items, f"{path}{name}[].")


def test_stream_list_matches_the_source():
    from source_zoho_desk.source import STREAM_CLASSES

    assert sorted(STREAM_NAMES) == sorted(stream.name for stream in STREAM_CLASSES)


def test_no_stray_schema_files():
    assert sorted(p.stem for p in SCHEMA_DIR.glob("*.json")) == sorted(STREAM_NAMES)
    assert "tools/generate_schemas.py" in (SCHEMA_DIR / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_schema_shape(stream):
    schema = load(stream)
    Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is True
    assert schema["properties"]["id"] == {"type": ["null", "string"]}
    text = (SCHEMA_DIR / f"{stream}.json").read_text(encoding="utf-8")
    assert text == json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_every_property_nullable_and_objects_open(stream):
    for path, _name, sub in walk(load(stream)):
        types = sub.get("type")
        assert isinstance(types, list) and types[0] == "null" and len(types) >= 2, path
        if "object" in types:
            assert sub.get("additionalProperties") is True, path
        assert "enum" not in sub, path


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_ids_are_strings(stream):
    for path, name, sub in walk(load(stream)):
        if name == "id" or name.endswith("Id"):
            assert sub == {"type": ["null", "string"]}, path
        if name.endswith("Ids") and "items" in sub:
            assert sub["items"] == {"type": ["null", "string"]}, path


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_time_fields_are_date_time(stream):
    seen = 0
    for path, name, sub in walk(load(stream)):
        types = sub.get("type", [])
        if TIME_NAME.search(name) and not {"object", "array", "boolean"} & set(types):
            expected = "date" if (stream, path) in DATE_ONLY else "date-time"
            assert sub == {"type": ["null", "string"], "format": expected}, path
            seen += 1
    assert seen or stream in {"agents", "teams"}


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_custom_fields_are_open(stream):
    for path, name, sub in walk(load(stream)):
        if name in ("cf", "customFields"):
            assert sub == {"type": ["null", "object"], "additionalProperties": True}, path
    if stream in SEARCH_STREAMS - {"articles"}:
        assert "cf" in load(stream)["properties"]


@pytest.mark.parametrize("stream", sorted(SEARCH_STREAMS))
def test_incremental_streams_have_modified_time(stream):
    assert load(stream)["properties"]["modifiedTime"] == {"type": ["null", "string"], "format": "date-time"}


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_connector_added_keys(stream):
    props = load(stream)["properties"]
    if stream in CHILD_STREAMS:
        assert props["ticketId"] == {"type": ["null", "string"]}
    if stream in MODULE_STREAMS:
        assert props["module"] == {"type": ["null", "string"]}


def test_organization_modules_keeps_properties():
    props = load("organization_modules")["properties"]
    assert {"apiName", "displayLabel", "modifiedTime"} <= set(props)


def _zoho_ticket() -> dict[str, Any]:
    # What /tickets/search may send: epoch-ms times (as the OAS examples do), ISO times, digit-string ids.
    return {
        "id": "18944000000336005",
        "ticketNumber": "149",
        "subject": "Orders are delayed",
        "createdTime": 1507813910000,
        "modifiedTime": "2024-03-01T10:25:13.000Z",
        "dueDate": "1509778989000",
        "closedTime": None,
        "departmentId": "1892000000006907",
        "contact": {"id": "18944000000421011", "account": {"id": "1894400000042", "accountName": "Zylker"}},
        "cf": {"cf_region": "EMEA", "cf_priority_score": 3},
        "customFields": {"Region": "EMEA"},
        "threadCount": "7",
        "isSpam": False,
        "someFieldZohoAddsLater": {"x": 1},
    }


def test_normalised_record_validates():
    schema = load("tickets")
    record = RecordShape.from_schema(schema).normalise(_zoho_ticket())
    assert record["createdTime"] == "2017-10-12T13:11:50.000Z"
    assert record["dueDate"] == "2017-11-04T07:03:09.000Z"
    Draft7Validator(schema, format_checker=FORMATS).validate(record)


def test_schema_rejects_what_the_connector_must_fix():
    validator = Draft7Validator(load("tickets"), format_checker=FORMATS)
    raw = _zoho_ticket()
    assert not validator.is_valid(raw), "epoch-ms times must be normalised before emitting"
    fixed = RecordShape.from_schema(load("tickets")).normalise(_zoho_ticket())
    assert not validator.is_valid({**fixed, "id": 18944000000336005}), "ids must be emitted as strings"
    as_ints = RecordShape.from_schema(load("tickets")).normalise({**_zoho_ticket(), "id": 18944000000336005})
    assert as_ints["id"] == "18944000000336005", "the connector turns int64 ids into strings"
    assert not validator.is_valid({**fixed, "modifiedTime": "yesterday"})


def test_child_record_validates():
    schema = load("ticket_comments")
    record = {
        "id": "1892000000369005",
        "ticketId": "1892000000094004",
        "commentedTime": 1417170313000,
        "commenterId": "1892000000042001",
        "content": "Looks good",
        "isPublic": False,
        "commenter": {"id": "1892000000042001", "name": "Jade"},
        "attachments": [{"id": "4000000007007", "name": "a.png", "size": "1024"}],
    }
    RecordShape.from_schema(schema).normalise(record)
    assert record["commentedTime"] == "2014-11-28T10:25:13.000Z"
    Draft7Validator(schema, format_checker=FORMATS).validate(record)


def test_schemas_match_a_fresh_generation(tmp_path):
    oas_dir = oas_dir_or_skip()
    files = generate(oas_dir)
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    committed = {p.name for p in SCHEMA_DIR.iterdir() if p.is_file()}
    assert committed == set(files), "schemas/ has files the generator does not make (or lacks some)"
    for name in files:
        assert (tmp_path / name).read_text(encoding="utf-8") == (SCHEMA_DIR / name).read_text(encoding="utf-8"), (
            f"{name} is stale: run python tools/generate_schemas.py"
        )
