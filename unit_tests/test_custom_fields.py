"""custom_fields: Zoho field types → typed `cf` schema, value coercion for every type, and the per-module catalog."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, FormatChecker

from source_zoho_desk.custom_fields import (
    STREAM_MODULES,
    CustomField,
    CustomFieldCatalog,
    CustomFieldCoercer,
    cf_schema,
    open_cf_schema,
    parse_fields,
)

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "source_zoho_desk" / "schemas"
OAS_FACTS = Path(__file__).resolve().parent.parent / "integration_tests" / "fake_zoho" / "oas_facts.json"

# jsonschema checks "date" but "date-time" only with an optional package installed; check both ourselves.
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return "T" in value and value.endswith("Z") and datetime.fromisoformat(value).tzinfo is not None


@FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return len(value) == 10 and datetime.strptime(value, "%Y-%m-%d") is not None


def field_record(api_name: str, zoho_type: str, **extra: Any) -> dict[str, Any]:
    """An /organizationFields record as Zoho sends it (ids as strings)."""
    return {"id": "4000000049001", "apiName": api_name, "name": api_name, "displayLabel": api_name[3:].title(),
            "type": zoho_type, "isCustomField": True, **extra}


# Every type of the OAS Field.json `type` enum (and Layout.json's spellings): the JSON type it gets.
TYPE_TABLE = [
    ("Text", ["null", "string"], None),
    ("Textarea", ["null", "string"], None),
    ("LargeText", ["null", "string"], None),
    ("Email", ["null", "string"], None),
    ("Phone", ["null", "string"], None),
    ("Fax", ["null", "string"], None),
    ("URL", ["null", "string"], None),
    ("Website", ["null", "string"], None),
    ("Picklist", ["null", "string"], None),
    ("PickList", ["null", "string"], None),
    ("AutoNumber", ["null", "string"], None),
    ("LookUp", ["null", "string"], None),
    ("Multiselect", ["null", "array"], None),
    ("MultiLookup", ["null", "array"], None),
    ("Number", ["null", "integer"], None),
    ("Decimal", ["null", "number"], None),
    ("Currency", ["null", "number"], None),
    ("Percent", ["null", "number"], None),
    ("Boolean", ["null", "boolean"], None),
    ("Checkbox", ["null", "boolean"], None),
    ("Date", ["null", "string"], "date"),
    ("DateTime", ["null", "string"], "date-time"),
    ("Date Time", ["null", "string"], "date-time"),
    ("SomethingZohoAddsNextYear", ["null", "string"], None),
]


def test_the_table_covers_every_type_the_oas_lists():
    facts = json.loads(OAS_FACTS.read_text(encoding="utf-8"))
    oas_types = set(facts["operations"]["GET /fields"]["item_schema"]["properties"]["type"]["enum"])
    covered = {zoho_type for zoho_type, _, _ in TYPE_TABLE} | {"Formula"}
    assert oas_types <= covered, oas_types - covered


@pytest.mark.parametrize(("zoho_type", "json_type", "fmt"), TYPE_TABLE)
def test_each_zoho_type_becomes_a_nullable_typed_property(zoho_type, json_type, fmt):
    [field] = parse_fields([field_record("cf_x", zoho_type)])
    prop = cf_schema([field])["properties"]["cf_x"]
    assert prop["type"] == json_type
    assert prop.get("format") == fmt
    if json_type[1] == "array":
        assert prop["items"] == {"type": "string"}
    assert zoho_type in prop["description"]


@pytest.mark.parametrize(("return_type", "json_type", "fmt"), [
    ("STRING", ["null", "string"], None),
    ("DECIMAL", ["null", "number"], None),
    ("CURRENCY", ["null", "number"], None),
    ("BOOLEAN", ["null", "boolean"], None),
    ("DATE", ["null", "string"], "date"),
    ("DATETIME", ["null", "string"], "date-time"),
    (None, ["null", "string"], None),
])
def test_a_formula_field_takes_its_return_type(return_type, json_type, fmt):
    extra = {"returnType": return_type} if return_type else {}
    [field] = parse_fields([field_record("cf_total", "Formula", **extra)])
    prop = cf_schema([field])["properties"]["cf_total"]
    assert (prop["type"], prop.get("format")) == (json_type, fmt)


def test_parse_fields_keeps_only_custom_fields_with_an_api_name_first_one_wins():
    records = [
        {"apiName": "subject", "type": "Text", "isCustomField": False},
        field_record("cf_region", "Picklist", displayLabel="Region", decimalPlaces="0"),
        {"apiName": "cf_legacy", "type": "Number", "isCustomField": "true"},  # a string flag still counts
        {"apiName": None, "name": "Old field", "type": "Text", "isCustomField": True},
        field_record("cf_region", "Number"),  # a duplicate must not retype the first
        field_record("cf_untyped", ""),
        "not a record",
    ]
    fields = parse_fields(records)
    assert [f.api_name for f in fields] == ["cf_region", "cf_legacy", "cf_untyped"]
    assert fields[0] == CustomField("cf_region", "Picklist", "Region", "4000000049001", None, 0)
    assert fields[2].type == "Text"


def test_cf_schema_is_valid_draft7_open_and_nullable():
    fields = parse_fields(field_record(f"cf_{t.lower().replace(' ', '_')}", t) for t, _, _ in TYPE_TABLE)
    schema = cf_schema(fields)
    Draft7Validator.check_schema(schema)
    assert schema["type"] == ["null", "object"] and schema["additionalProperties"] is True
    validator = Draft7Validator(schema, format_checker=FORMATS)
    assert validator.is_valid(None)
    assert validator.is_valid({name: None for name in schema["properties"]})
    assert validator.is_valid({"cf_added_after_discover": "anything"})
    assert not validator.is_valid({"cf_number": "12"})  # the raw Zoho string is what coercion must fix


def test_no_custom_fields_leaves_cf_exactly_as_the_committed_schemas_declare_it():
    committed = json.loads((SCHEMA_DIR / "tickets.json").read_text(encoding="utf-8"))["properties"]["cf"]
    assert cf_schema([]) == open_cf_schema()
    assert open_cf_schema()["additionalProperties"] is True
    assert set(open_cf_schema()["type"]) == set(committed["type"])


# (Zoho type, what Zoho sends, what is emitted); None means null without a warning.
COERCIONS = [
    ("Text", "Gold", "Gold"),
    ("Text", 12, "12"),
    ("Text", 1.5, "1.5"),
    ("Text", True, "true"),
    ("Text", {"a": 1}, '{"a":1}'),
    ("Textarea", "line 1\nline 2", "line 1\nline 2"),
    ("Email", "a@example.com", "a@example.com"),
    ("Phone", 5551234, "5551234"),
    ("URL", "https://zylker.example", "https://zylker.example"),
    ("Picklist", "Asia", "Asia"),
    ("AutoNumber", "TKT-0042", "TKT-0042"),
    ("LookUp", 1892220000042001, "1892220000042001"),  # the OAS example sends a lookup id as a number
    ("LookUp", {"id": "18922", "name": "Zylker"}, "18922"),
    ("Multiselect", "Red;Blue", ["Red", "Blue"]),
    ("Multiselect", "Red ; Blue;", ["Red", "Blue"]),
    ("Multiselect", ["Red", "Blue"], ["Red", "Blue"]),
    ("Multiselect", "Red", ["Red"]),
    ("Multiselect", ";", None),
    ("Multiselect", [], None),
    ("MultiLookup", [18922, "18923"], ["18922", "18923"]),
    ("Number", "12", 12),
    ("Number", " -7 ", -7),
    ("Number", "12.0", 12),
    ("Number", 12, 12),
    ("Number", 12.0, 12),
    ("Number", "1892220000042001", 1892220000042001),  # exact, no float round trip
    ("Decimal", "12.50", 12.5),
    ("Decimal", 3, 3.0),
    ("Decimal", "1e3", 1000.0),
    ("Currency", "1234.5", 1234.5),
    ("Percent", "0.0", 0.0),  # the OAS example: cf_severitypercentage "0.0"
    ("Percent", "12.5%", 12.5),
    ("Boolean", "true", True),
    ("Boolean", "FALSE", False),
    ("Boolean", False, False),  # the OAS example: cf_featureRequest false
    ("Boolean", "1", True),
    ("Boolean", 0, False),
    ("Date", "2024-01-02", "2024-01-02"),
    ("Date", "2024-01-02T23:30:00.000-05:00", "2024-01-02"),  # the day as written, not shifted to UTC
    ("Date", 1704067200000, "2024-01-01"),
    ("Date", "1704067200000", "2024-01-01"),
    ("DateTime", "2016-07-07T19:30:00.000Z", "2016-07-07T19:30:00.000Z"),  # the OAS example cf_followUpDate
    ("DateTime", "2016-07-07T19:30:00Z", "2016-07-07T19:30:00.000Z"),
    ("DateTime", "2024-01-02T10:00:00+05:30", "2024-01-02T04:30:00.000Z"),
    ("DateTime", "2024-01-02T10:00:00+0530", "2024-01-02T04:30:00.000Z"),
    ("DateTime", "2024-01-02T10:00:00", "2024-01-02T10:00:00.000Z"),
    ("DateTime", 1704067200123, "2024-01-01T00:00:00.123Z"),
    ("DateTime", "1704067200123", "2024-01-01T00:00:00.123Z"),
    ("Formula", "9.75", 9.75),  # returnType DECIMAL, see formula_field()
    ("SomethingNew", 42, "42"),
] + [(zoho_type, empty, None) for zoho_type in ("Text", "Number", "Decimal", "Boolean", "Date", "DateTime",
                                                  "Multiselect", "LookUp") for empty in ("", "   ", None)]

# Values no reading of the declared type can make sense of: null, counted, warned.
GARBAGE = [
    ("Number", "twelve"),
    ("Number", "12.5"),
    ("Number", "1_000"),
    ("Number", "nan"),
    ("Number", True),
    ("Number", 12.5),
    ("Number", [1]),
    ("Decimal", "12,50"),
    ("Decimal", "inf"),
    ("Decimal", "1e999"),
    ("Decimal", float("nan")),
    ("Currency", "$12"),
    ("Percent", "%"),
    ("Boolean", "maybe"),
    ("Boolean", 2),
    ("Boolean", {"x": 1}),
    ("Date", "02/01/2024"),
    ("Date", "2024-13-01"),
    ("Date", True),
    ("DateTime", "yesterday"),
    ("DateTime", "2024-02-30T00:00:00Z"),
    ("DateTime", False),
    ("DateTime", {"t": 1}),
]


def formula_field() -> CustomField:
    return CustomField("cf_x", "Formula", return_type="DECIMAL")


def field_of(zoho_type: str) -> CustomField:
    return formula_field() if zoho_type == "Formula" else CustomField("cf_x", zoho_type, "X")


@pytest.mark.parametrize(("zoho_type", "raw", "expected"), COERCIONS)
def test_values_become_their_declared_type_and_validate(zoho_type, raw, expected, caplog):
    field = field_of(zoho_type)
    coercer = CustomFieldCoercer([field])
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        cf = coercer.coerce({"cf_x": raw})
    assert cf == {"cf_x": expected}
    assert type(cf["cf_x"]) is type(expected)  # 12 not 12.0, True not 1
    assert not coercer.invalid and not caplog.records
    Draft7Validator(cf_schema([field]), format_checker=FORMATS).validate(cf)


@pytest.mark.parametrize(("zoho_type", "raw"), GARBAGE)
def test_an_unreadable_value_becomes_null_is_counted_and_warned(zoho_type, raw, caplog):
    field = field_of(zoho_type)
    coercer = CustomFieldCoercer([field], module="tickets")
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        cf = coercer.coerce({"cf_x": raw, "cf_other": "kept"})
    assert cf == {"cf_x": None, "cf_other": "kept"}
    assert coercer.invalid == {"cf_x": 1}
    [warning] = caplog.records
    assert "cf_x" in warning.getMessage() and "tickets" in warning.getMessage() and zoho_type in warning.getMessage()
    Draft7Validator(cf_schema([field]), format_checker=FORMATS).validate(cf)


def test_warnings_for_one_field_are_sampled_but_every_value_is_counted(caplog):
    coercer = CustomFieldCoercer([CustomField("cf_n", "Number")])
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        for _ in range(150):
            assert coercer.coerce({"cf_n": "n/a"}) == {"cf_n": None}
    assert coercer.invalid["cf_n"] == 150
    assert [r.getMessage().split(" but ")[1].split(" ")[0] for r in caplog.records] == ["1", "10", "100"]


def test_a_converter_bug_costs_one_value_never_the_record(monkeypatch):
    from source_zoho_desk import custom_fields

    def broken(value: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setitem(custom_fields.CONVERTERS, "integer", broken)  # type: ignore[index]
    coercer = CustomFieldCoercer([CustomField("cf_n", "Number")])
    assert coercer.coerce({"cf_n": "1"}) == {"cf_n": None}
    assert coercer.invalid["cf_n"] == 1


def test_undeclared_keys_and_odd_cf_values_pass_through():
    coercer = CustomFieldCoercer([CustomField("cf_n", "Number")])
    assert coercer.coerce({"cf_new": "12"}) == {"cf_new": "12"}
    assert coercer.coerce(None) is None
    assert coercer.coerce("not an object") == "not an object"
    record = {"id": "1", "cf": {"cf_n": "3"}, "customFields": {"N": "3"}}
    assert coercer.coerce_record(record) == {"id": "1", "cf": {"cf_n": 3}, "customFields": {"N": "3"}}
    assert coercer.coerce_record({"id": "2"}) == {"id": "2"}


def ticket_schema() -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / "tickets.json").read_text(encoding="utf-8"))


def test_a_coerced_ticket_validates_against_the_typed_ticket_schema():
    records = [field_record(f"cf_{t.lower().replace(' ', '_')}", t) for t, _, _ in TYPE_TABLE]
    catalog = CustomFieldCatalog(lambda module: records)
    schema = catalog.typed_schema("tickets", ticket_schema())
    Draft7Validator.check_schema(schema)
    raw_cf = {
        "cf_text": "Gold", "cf_textarea": "", "cf_largetext": None, "cf_email": "a@example.com", "cf_phone": 555,
        "cf_fax": "", "cf_url": "https://x.example", "cf_website": None, "cf_picklist": "Asia", "cf_autonumber": "T-1",
        "cf_lookup": 1892220000042001, "cf_multiselect": "Red;Blue", "cf_multilookup": "", "cf_number": "12",
        "cf_decimal": "0.5", "cf_currency": "10", "cf_percent": "0.0", "cf_boolean": "true", "cf_checkbox": False,
        "cf_date": "2024-01-02", "cf_datetime": "1704067200123", "cf_date_time": "2024-01-02T10:00:00.000Z",
        "cf_somethingzohoaddsnextyear": 7, "cf_added_after_discover": "12",
    }
    ticket = {"id": "1", "subject": "S", "cf": raw_cf}
    validator = Draft7Validator(schema, format_checker=FORMATS)
    assert not validator.is_valid(ticket)  # Zoho's raw strings do not fit the typed columns...
    coerced = catalog.coercer_for("tickets").coerce_record(ticket)
    validator.validate(coerced)  # ...the coerced values do
    assert coerced["cf"]["cf_number"] == 12 and coerced["cf"]["cf_multiselect"] == ["Red", "Blue"]
    assert coerced["cf"]["cf_added_after_discover"] == "12"


def test_catalog_fetches_each_module_once_and_types_only_streams_with_a_module():
    calls: list[str] = []

    def fetch(module: str) -> list[dict[str, Any]]:
        calls.append(module)
        return [field_record("cf_seats", "Number")]

    catalog = CustomFieldCatalog(fetch)
    for _ in range(3):
        schema = catalog.typed_schema("ticket_time_entries", {"properties": {"cf": open_cf_schema(), "id": {}}})
        assert schema["properties"]["cf"]["properties"]["cf_seats"]["type"] == ["null", "integer"]
        assert catalog.coercer_for("ticket_time_entries") is catalog.coercer("timeEntry")
    departments = {"properties": {"id": {}}}
    assert catalog.typed_schema("departments", departments) is departments
    agents = {"properties": {"cf": open_cf_schema()}}  # agents have cf, but no organizationFields module
    assert catalog.typed_schema("agents", agents) is agents
    assert catalog.coercer_for("agents") is None
    assert calls == ["timeEntry"]


def test_catalog_leaves_the_committed_schema_untouched():
    original = ticket_schema()
    snapshot = json.dumps(original, sort_keys=True)
    CustomFieldCatalog(lambda m: [field_record("cf_n", "Number")]).typed_schema("tickets", original)
    assert json.dumps(original, sort_keys=True) == snapshot


@pytest.mark.parametrize("failure", [
    RuntimeError("HTTP 500 from organizationFields"),
    PermissionError("403 Desk.settings.READ"),
    ValueError("not JSON"),
])
def test_a_failed_fetch_leaves_cf_open_warns_once_and_is_not_retried(failure, caplog):
    calls: list[str] = []

    def fetch(module: str) -> list[dict[str, Any]]:
        calls.append(module)
        raise failure

    catalog = CustomFieldCatalog(fetch)
    schema = {"properties": {"cf": open_cf_schema()}}
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        for _ in range(2):
            assert catalog.typed_schema("contacts", schema)["properties"]["cf"] == open_cf_schema()
            assert catalog.coercer_for("contacts") is None
    assert calls == ["contacts"]
    [warning] = caplog.records
    assert "'contacts'" in warning.getMessage() and str(failure) in warning.getMessage()


def test_a_generator_failing_halfway_also_falls_back():
    def fetch(module: str):
        yield field_record("cf_a", "Number")
        raise ConnectionError("connection reset")

    catalog = CustomFieldCatalog(fetch)
    assert catalog.fields("accounts") is None
    assert catalog.cf_schema("accounts") == open_cf_schema()


def test_a_module_without_custom_fields_keeps_the_open_cf():
    catalog = CustomFieldCatalog(lambda module: [{"apiName": "subject", "type": "Text", "isCustomField": False}])
    assert catalog.fields("products") == []
    assert catalog.cf_schema("products") == open_cf_schema()
    assert catalog.coercer_for("products") is None


def test_unreadable_counts_are_reported_per_module_and_field():
    catalog = CustomFieldCatalog(lambda module: [field_record("cf_n", "Number")])
    catalog.coercer_for("tickets").coerce({"cf_n": "x"})
    catalog.coercer_for("tickets").coerce({"cf_n": "y"})
    catalog.coercer_for("contacts").coerce({"cf_n": "1"})
    assert catalog.invalid_counts() == {"tickets.cf_n": 2}


def test_stream_to_module_map_matches_the_organization_fields_modules():
    from source_zoho_desk.streams.tables import FIELD_MODULES

    assert sorted(STREAM_MODULES.values()) == sorted(FIELD_MODULES)
    assert STREAM_MODULES["ticket_time_entries"] == "timeEntry"
    for stream in STREAM_MODULES:
        assert (SCHEMA_DIR / f"{stream}.json").exists()


def test_a_schema_without_cf_gains_a_typed_cf_only_when_the_module_has_custom_fields():
    contracts = json.loads((SCHEMA_DIR / "contracts.json").read_text(encoding="utf-8"))
    with_fields = CustomFieldCatalog(lambda module: [field_record("cf_tier", "Picklist")])
    typed = with_fields.typed_schema("contracts", contracts)
    assert typed["properties"]["cf"]["properties"]["cf_tier"]["type"] == ["null", "string"]
    Draft7Validator.check_schema(typed)
    without = CustomFieldCatalog(lambda module: [])
    assert without.typed_schema("contracts", contracts) is contracts


def test_after_repeated_failures_the_remaining_modules_are_not_asked(caplog):
    calls: list[str] = []

    def fetch(module: str) -> list[dict[str, Any]]:
        calls.append(module)
        raise ConnectionError("Zoho is down")

    catalog = CustomFieldCatalog(fetch, max_failures=2)
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        for stream in ("tickets", "contacts", "accounts", "tasks"):
            assert catalog.typed_schema(stream, {"properties": {"cf": open_cf_schema()}})["properties"]["cf"] == (
                open_cf_schema()
            )
    assert calls == ["tickets", "contacts"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 4 and "'accounts'" in messages[2] and "already failed" in messages[2]


def test_one_failed_module_does_not_stop_the_next_from_being_typed():
    answers = {"tickets": ConnectionError("reset"), "contacts": [field_record("cf_vip", "Boolean")]}

    def fetch(module: str) -> list[dict[str, Any]]:
        answer = answers[module]
        if isinstance(answer, Exception):
            raise answer
        return answer

    catalog = CustomFieldCatalog(fetch)
    assert catalog.fields("tickets") is None
    assert [f.api_name for f in catalog.fields("contacts")] == ["cf_vip"]
