"""Org-level metadata records: the organization, modules, per-module fields and layouts (small, fixed sets)."""

from __future__ import annotations

from typing import Any

from integration_tests.fake_zoho.facts import Facts
from integration_tests.fake_zoho.records import (
    FIELD_CODE,
    LAYOUT_CODE,
    MODULE_CODE,
    MODULES,
    STREAMS,
    T0_MS,
    Record,
    iso,
    make_id,
    merged_schema,
    sample_value,
)

# Module apiName -> the stream whose schema lists the module's fields.
MODULE_STREAMS = {
    "tickets": "tickets", "contacts": "contacts", "accounts": "accounts", "tasks": "tasks", "calls": "calls",
    "events": "events", "products": "products", "contracts": "contracts", "timeEntry": "ticket_time_entries",
}
FIELD_TYPES = {"date-time": "DateTime", "boolean": "Boolean", "integer": "Number", "number": "Decimal"}
CUSTOM_FIELDS = (("cf_region", "Region", "Picklist"), ("cf_contract_tier", "Contract tier", "Text"))


def _shape(facts: Facts, op_key: str, values: dict[str, Any]) -> Record:
    """A record with every property of the operation's item schema; `values` fill in the meaningful ones."""
    props = (facts.op(op_key).item_schema or {}).get("properties") or {}
    rec = {name: sample_value(name, sub) for name, sub in props.items()}
    rec.update(values)
    return rec


def organization(facts: Facts, org_id: str, edition: str) -> Record:
    return _shape(facts, "GET /organizations", {
        "id": org_id, "companyName": "Zylker Fake", "portalName": "zylkerfake", "edition": edition,
        "isDefault": True, "portalURL": "https://desk.zoho.com/support/zylkerfake", "timeZone": "UTC",
    })


def modules(facts: Facts, seed: int) -> list[Record]:
    return [
        _shape(facts, "GET /organizationModules", {
            "id": make_id(seed, MODULE_CODE, i), "apiName": name, "displayLabel": name[:1].upper() + name[1:],
            "pluralLabel": name, "singularLabel": name.rstrip("s"), "isCustomModule": False,
            "createdTime": iso(T0_MS), "modifiedTime": iso(T0_MS),
        })
        for i, name in enumerate(MODULES)
    ]


def fields(facts: Facts, seed: int, module: str) -> list[Record]:
    """The module's standard fields (its record properties) plus two custom fields."""
    stream = MODULE_STREAMS[module]
    props = merged_schema(facts, STREAMS[stream])["properties"]
    base = MODULES.index(module) * 500
    out = []
    for n, (name, sub) in enumerate(sorted(props.items())):
        kind = sub.get("format") or next((t for t in (sub.get("type") or ["string"]) if t != "null"), "string")
        values: dict[str, Any] = {
            "id": make_id(seed, FIELD_CODE, base + n), "apiName": name, "name": name, "displayLabel": name,
            "type": FIELD_TYPES.get(kind, "Text"), "isCustomField": False, "isMandatory": name == "subject",
        }
        if module == "tickets" and name == "status":
            values["type"] = "Picklist"
            # The OAS calls the list pickListValues; connectors in the wild read allowedValues: send both.
            values["pickListValues"] = values["allowedValues"] = [
                {"value": v, "statusType": t} for v, t in (("Open", "Open"), ("On Hold", "On Hold"),
                                                           ("Escalated", "Open"), ("Closed", "Closed"))
            ]
        out.append(_shape(facts, "GET /fields", values))
    for k, (api_name, label, kind) in enumerate(CUSTOM_FIELDS):
        out.append(_shape(facts, "GET /fields", {
            "id": make_id(seed, FIELD_CODE, base + 400 + k), "apiName": api_name, "name": api_name,
            "displayLabel": label, "type": kind, "isCustomField": True, "isMandatory": False,
        }))
    return out


def layouts(facts: Facts, seed: int, module: str, per_module: int, department_ids: list[str]) -> list[Record]:
    base = MODULES.index(module) * 100
    return [
        _shape(facts, "GET /layouts", {
            "id": make_id(seed, LAYOUT_CODE, base + i), "layoutName": f"{module} layout {i}",
            "layoutDisplayName": f"{module} layout {i}", "module": module, "status": "active",
            "isDefaultLayout": i == 0, "isStandardLayout": i == 0,
            "departmentId": department_ids[i % len(department_ids)] if department_ids else None,
            "createdTime": iso(T0_MS), "modifiedTime": iso(T0_MS),
        })
        for i in range(per_module)
    ]
