"""Custom fields end to end: discover types each module's `cf` from organizationFields, a read emits coerced values.

Two servers: the fake Zoho Desk (its modules each have two custom fields, Picklist and Text) and, for
every other Zoho field type, requests-mock.
"""

from __future__ import annotations

import json
import logging
import types
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import backoff._sync
import pytest
from airbyte_cdk.models import (
    AirbyteCatalog,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    DestinationSyncMode,
    SyncMode,
    Type,
)
from airbyte_cdk.sources.streams.http import rate_limiting
from jsonschema import Draft7Validator, FormatChecker

from integration_tests.fake_zoho import FakeZoho, FakeZohoServer, running_fake_zoho
from source_zoho_desk.custom_fields import STREAM_MODULES, CustomFieldCatalog, open_cf_schema
from source_zoho_desk.source import SourceZohoDesk
from source_zoho_desk.streams.tables import FIELD_MODULES, OrganizationFields

FIELDS_CALL = "GET /api/v1/organizationFields"
LOGGER = logging.getLogger("airbyte")

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return "T" in value and value.endswith("Z") and datetime.fromisoformat(value).tzinfo is not None


# ---- running the connector in-process ---------------------------------------------------------------------
def discover(config: dict[str, Any]) -> AirbyteCatalog:
    return SourceZohoDesk().discover(LOGGER, config)


def schema_of(catalog: AirbyteCatalog, stream: str) -> dict[str, Any]:
    (found,) = [s.json_schema for s in catalog.streams if s.name == stream]
    return found


def configured(catalog: AirbyteCatalog, streams: list[str]) -> ConfiguredAirbyteCatalog:
    by_name = {s.name: s for s in catalog.streams}
    return ConfiguredAirbyteCatalogSerializer.load({"streams": [
        {
            "stream": {"name": name, "json_schema": by_name[name].json_schema,
                       "supported_sync_modes": [m.value for m in by_name[name].supported_sync_modes]},
            "sync_mode": SyncMode.full_refresh.value,
            "destination_sync_mode": DestinationSyncMode.overwrite.value,
        }
        for name in streams
    ]})


def read(config: dict[str, Any], catalog: AirbyteCatalog, stream: str) -> list[dict[str, Any]]:
    """A full refresh of one stream, configured from `catalog` as the platform would (a fresh process)."""
    messages = SourceZohoDesk().read(LOGGER, config, configured(catalog, [stream]), None)
    return [m.record.data for m in messages if m.type == Type.RECORD and m.record.stream == stream]


def cf_validator(catalog: AirbyteCatalog, stream: str) -> Draft7Validator:
    cf = schema_of(catalog, stream)["properties"]["cf"]
    Draft7Validator.check_schema(cf)
    return Draft7Validator(cf, format_checker=FORMATS)


# ---- against the fake Zoho Desk ---------------------------------------------------------------------------
FAKE_FIELDS = [("cf_region", "Picklist"), ("cf_contract_tier", "Text")]


@pytest.fixture
def zoho() -> Iterator[FakeZohoServer]:
    fake = FakeZoho(sizes={"tickets": 6})
    # Full records: the OAS list view of /tickets has no `cf`, Zoho's search and get-by-id views do.
    fake.configure(project_records=False, token_rate_limit=False)
    with running_fake_zoho(fake) as server:
        yield server


def test_the_catalog_reads_each_module_once_through_the_connectors_own_stream(zoho):
    context = SourceZohoDesk().context(zoho.config())
    catalog = CustomFieldCatalog(lambda module: OrganizationFields(context).read_all({"module": module}))
    for _ in range(2):
        for module in FIELD_MODULES:
            assert [(f.api_name, f.type) for f in catalog.fields(module)] == FAKE_FIELDS
    assert zoho.fake.calls()[FIELDS_CALL] == len(FIELD_MODULES)
    # Nothing standard slips in: the fake's ~70 standard ticket fields are all isCustomField false.
    assert "cf_region" in catalog.cf_schema("tickets")["properties"]
    assert len(catalog.cf_schema("tickets")["properties"]) == len(FAKE_FIELDS)


def test_discover_types_cf_of_every_module_stream_asking_once_per_module(zoho):
    catalog = discover(zoho.config())
    for stream in STREAM_MODULES:
        cf = schema_of(catalog, stream)["properties"]["cf"]
        assert cf["additionalProperties"] is True, stream
        assert {name: prop["type"] for name, prop in cf.get("properties", {}).items()} == {
            "cf_region": ["null", "string"], "cf_contract_tier": ["null", "string"]
        }, stream
        Draft7Validator.check_schema(schema_of(catalog, stream))
    assert "properties" not in schema_of(catalog, "agents")["properties"]["cf"]  # no organizationFields module
    assert zoho.fake.calls()[FIELDS_CALL] == len(FIELD_MODULES)


def test_read_emits_coerced_cf_values_that_fit_the_discovered_schema(zoho):
    fake = zoho.fake
    first, second = fake.ids("tickets", 2)
    fake.update("tickets", first, cf={"cf_region": "Asia", "cf_contract_tier": ""})
    fake.update("tickets", second, cf={"cf_region": "Europe", "cf_contract_tier": "Gold", "cf_later": "kept"})
    config = zoho.config()
    catalog = discover(config)
    records = {r["id"]: r for r in read(config, catalog, "tickets")}
    assert records[first]["cf"] == {"cf_region": "Asia", "cf_contract_tier": None}  # Zoho's "" is empty
    assert records[second]["cf"] == {"cf_region": "Europe", "cf_contract_tier": "Gold", "cf_later": "kept"}
    validator = cf_validator(catalog, "tickets")
    for record in records.values():
        validator.validate(record["cf"])


# ---- every Zoho field type, against requests-mock ---------------------------------------------------------
API = "https://desk.example.test/api/v1"
ACCOUNTS = "https://accounts.example.test"
CONFIG = {
    "data_center": "US",
    "org_id": "700000001",
    "credentials": {"client_id": "1000.CLIENT", "client_secret": "s3cret", "refresh_token": "1000.refresh"},
    "api_url": API,
    "accounts_url": ACCOUNTS,
}
# (apiName, Zoho type, extra field attributes, what Zoho sends, what the record must carry)
TYPED = [
    ("cf_tier", "Picklist", {}, "Gold", "Gold"),
    ("cf_notes", "Textarea", {}, "", None),
    ("cf_site", "URL", {}, "https://zylker.example", "https://zylker.example"),
    ("cf_ticket_no", "AutoNumber", {}, "TKT-0042", "TKT-0042"),
    ("cf_owner", "LookUp", {}, 1892220000042001, "1892220000042001"),
    ("cf_colours", "Multiselect", {}, "Red;Blue", ["Red", "Blue"]),
    ("cf_seats", "Number", {}, "12", 12),
    ("cf_weight", "Decimal", {}, "2.75", 2.75),
    ("cf_price", "Currency", {}, "1234.5", 1234.5),
    ("cf_severity", "Percent", {}, "0.0", 0.0),
    ("cf_vip", "Boolean", {}, "true", True),
    ("cf_feature_request", "Boolean", {}, False, False),
    ("cf_purchased_on", "Date", {}, "2024-01-02", "2024-01-02"),
    ("cf_follow_up", "DateTime", {}, "2016-07-07T19:30:00+05:30", "2016-07-07T14:00:00.000Z"),
    ("cf_called_at", "DateTime", {}, "1704067200123", "2024-01-01T00:00:00.123Z"),
    ("cf_total", "Formula", {"returnType": "DECIMAL"}, "9.5", 9.5),
    ("cf_hologram", "Hologram", {}, 7, "7"),  # a type Zoho adds later: a string column
    ("cf_broken_count", "Number", {}, "n/a", None),  # unreadable: null, never a dropped record
]


def organization_fields(module: str) -> list[dict[str, Any]]:
    standard = [{"id": "1", "apiName": "subject", "type": "Text", "isCustomField": False}]
    if module != "tickets":
        return standard
    return standard + [
        {"id": str(100 + n), "apiName": api_name, "displayLabel": api_name, "type": zoho_type,
         "isCustomField": True, **extra}
        for n, (api_name, zoho_type, extra, _, _) in enumerate(TYPED)
    ]


def mock_zoho(requests_mock: Any, fields_failure: dict[str, tuple[int, str]] | None = None) -> None:
    """Zoho's token endpoint, organizationFields (custom fields on tickets only) and one page of tickets.

    fields_failure: module -> (status, raw body) the organizationFields call of that module answers.
    """
    requests_mock.post(f"{ACCOUNTS}/oauth/v2/token", json={"access_token": "tok", "expires_in": 3600})

    def fields(request: Any, context: Any) -> str:
        module = request.qs["module"][0]
        module = next(m for m in FIELD_MODULES if m.lower() == module)  # requests-mock lower-cases the query
        if fields_failure and module in fields_failure:
            context.status_code, body = fields_failure[module]
            return body
        return json.dumps({"data": organization_fields(module)})

    requests_mock.get(f"{API}/organizationFields", text=fields)
    tickets = [
        {"id": "1", "subject": "all set", "modifiedTime": "2024-01-01T00:00:00.000Z",
         "cf": {api_name: raw for api_name, _, _, raw, _ in TYPED} | {"cf_added_after_discover": "12"}},
        {"id": "2", "subject": "all empty", "modifiedTime": "2024-01-01T00:00:00.000Z",
         "cf": {api_name: "" for api_name, _, _, _, _ in TYPED}},
        {"id": "3", "subject": "no cf", "modifiedTime": "2024-01-01T00:00:00.000Z", "cf": None},
    ]
    requests_mock.get(f"{API}/tickets", json={"data": tickets})


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The CDK's retry waits are recorded instead of slept (what the connector decides is unchanged)."""
    waits: list[float] = []
    fake_time = types.SimpleNamespace(sleep=lambda seconds: waits.append(float(seconds)))
    monkeypatch.setattr(backoff._sync, "time", fake_time)
    monkeypatch.setattr(rate_limiting, "time", fake_time)
    return waits


def test_discover_gives_every_zoho_type_its_column_type(requests_mock):
    mock_zoho(requests_mock)
    cf = schema_of(discover(dict(CONFIG)), "tickets")["properties"]["cf"]
    assert "properties" in cf, "cf is still the open object"
    props = cf["properties"]
    got = {name: (prop["type"][1], prop.get("format")) for name, prop in props.items()}
    assert got == {
        "cf_tier": ("string", None), "cf_notes": ("string", None), "cf_site": ("string", None),
        "cf_ticket_no": ("string", None), "cf_owner": ("string", None), "cf_colours": ("array", None),
        "cf_seats": ("integer", None), "cf_weight": ("number", None), "cf_price": ("number", None),
        "cf_severity": ("number", None), "cf_vip": ("boolean", None), "cf_feature_request": ("boolean", None),
        "cf_purchased_on": ("string", "date"), "cf_follow_up": ("string", "date-time"),
        "cf_called_at": ("string", "date-time"), "cf_total": ("number", None), "cf_hologram": ("string", None),
        "cf_broken_count": ("integer", None),
    }
    assert all(prop["type"][0] == "null" for prop in props.values())


def test_read_coerces_every_type_and_the_records_fit_the_discovered_schema(requests_mock, caplog):
    mock_zoho(requests_mock)
    catalog = discover(dict(CONFIG))
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        records = {r["id"]: r for r in read(dict(CONFIG), catalog, "tickets")}
    assert set(records) == {"1", "2", "3"}  # nothing dropped, not even the record with an unreadable value
    expected = {api_name: want for api_name, _, _, _, want in TYPED} | {"cf_added_after_discover": "12"}
    assert records["1"]["cf"] == expected
    assert records["2"]["cf"] == {api_name: None for api_name, _, _, _, _ in TYPED}
    assert records["3"]["cf"] is None
    validator = cf_validator(catalog, "tickets")
    for record in records.values():
        validator.validate(record["cf"])
    [warning] = [r.getMessage() for r in caplog.records if "cf_broken_count" in r.getMessage()]
    assert "Number" in warning and "null" in warning


@pytest.mark.parametrize(("status", "body"), [
    (500, '{"errorCode":"INTERNAL_SERVER_ERROR","message":"An internal server error occurred."}'),
    (200, "<html>maintenance</html>"),
])
def test_discover_survives_an_unreadable_field_list_with_an_open_cf_and_a_warning(
    requests_mock, no_sleep, caplog, status, body
):
    mock_zoho(requests_mock, fields_failure={"tickets": (status, body)})
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        catalog = discover(dict(CONFIG))
    assert schema_of(catalog, "tickets")["properties"]["cf"] == open_cf_schema()
    assert "properties" not in schema_of(catalog, "contacts")["properties"]["cf"]  # no custom fields there
    warnings = [r.getMessage() for r in caplog.records if "custom fields" in r.getMessage()]
    assert len(warnings) == 1 and "'tickets'" in warnings[0]
    # A read still works, and the raw values pass through the open cf untouched.
    records = {r["id"]: r for r in read(dict(CONFIG), catalog, "tickets")}
    assert records["1"]["cf"]["cf_seats"] == "12"
