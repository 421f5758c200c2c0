"""Derive integration_tests/fake_zoho/oas_facts.json (operations, limits, webhooks) from zohodesk-oas."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.oas import OASFolder, Operation, as_type_list, cli_paths, merge_composites

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "integration_tests" / "fake_zoho" / "oas_facts.json"
SOURCE = "zoho/zohodesk-oas v1.0 (derived facts)"

# Nested objects below this depth become open objects: enough for records, small enough to commit.
ITEM_SCHEMA_DEPTH = 4
REQUEST_SCHEMA_DEPTH = 6

# Non-GET operations the fake server needs (webhook registration), with their request bodies.
EXTRA_OPERATIONS = ("POST /webhooks", "PATCH /webhooks/{webhookId}", "DELETE /webhooks/{webhookId}")

# Zoho documents /organizationFields; the OAS only has the /fields spelling of the same operations.
ALIASES = {
    "GET /organizationFields": "GET /fields",
    "GET /organizationFields/{fieldId}": "GET /fields/{fieldId}",
    # The OAS names this path parameter caseId; the connector and every other ticket path say ticketId.
    "GET /tickets/{ticketId}/timeEntry": "GET /tickets/{caseId}/timeEntry",
}

# Limits the OAS leaves open but zoho-desk-notes.md settles from a live error message or a verified source.
NOTES_LIMITS: dict[str, dict[str, Any]] = {
    "GET /tickets": {
        "minimum": 1,
        "maximum": 100,
        "why": "live error 'exceeds the range of 1-100' (zoho-desk-notes.md section 3)",
    },
    "GET /tickets/{ticketId}/threads": {
        "minimum": 1,
        "maximum": 200,
        "why": "D29 cap for threads (zoho-desk-notes.md section 3)",
    },
}

# Keys that carry meaning for a reader of records; everything else (descriptions, examples, regex
# patterns written for Java) is dropped to keep the file small.
SCHEMA_KEYS = {
    "type", "format", "enum", "const", "properties", "items", "additionalProperties", "minimum", "maximum"
}
CONSTRAINT_KEYS = {
    "required", "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"
}


def _looks_iso_datetime(pattern: Any) -> bool:
    # Zoho marks ISO timestamps with a date regex instead of `format: date-time`.
    return isinstance(pattern, str) and "(T)" in pattern and "(Z)" in pattern


def _looks_iso_date(pattern: Any) -> bool:
    # Contract start/end dates are plain YYYY-MM-DD; calling them date-time would mislead consumers.
    return isinstance(pattern, str) and pattern.startswith("^([12][0-9]{3})-") and pattern.endswith("$")


def clean_schema(schema: Any, max_depth: int, keep_constraints: bool = False, _depth: int = 0) -> Any:
    """Small copy of a resolved, merged schema: meaningful keys only, nested objects cut at `max_depth`."""
    if not isinstance(schema, dict):
        return schema
    types = as_type_list(schema)
    objectish = "properties" in schema or "object" in types
    if objectish and _depth >= max_depth:
        return {"type": schema.get("type", "object"), "additionalProperties": True}
    keep = SCHEMA_KEYS | (CONSTRAINT_KEYS if keep_constraints else set())
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in keep:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {n: clean_schema(s, max_depth, keep_constraints, _depth + 1) for n, s in value.items()}
        elif key == "items":
            out[key] = clean_schema(value, max_depth, keep_constraints, _depth + 1)
        elif key == "additionalProperties":
            if isinstance(value, dict):
                out[key] = clean_schema(value, max_depth, keep_constraints, _depth + 1)
            elif keep_constraints or value is not False:
                # In records an extra key is harmless, so item schemas stay open; request bodies keep
                # Zoho's closed shape because the live API rejects unknown keys.
                out[key] = value
        else:
            out[key] = copy.deepcopy(value)
    if "patternProperties" in schema and "additionalProperties" not in out:
        out["additionalProperties"] = True
    if "format" not in out and _looks_iso_datetime(schema.get("pattern")):
        out["format"] = "date-time"
    elif "format" not in out and _looks_iso_date(schema.get("pattern")):
        out["format"] = "date"
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list):
            out[key] = [clean_schema(b, max_depth, keep_constraints, _depth) for b in schema[key]]
    return out


def find_list_key(body: dict[str, Any]) -> str | None:
    """The array property holding the records, or None when the 200 body is one object."""
    props = body.get("properties") or {}
    arrays = [name for name, sub in props.items() if isinstance(sub, dict) and "array" in as_type_list(sub)]
    if "data" in arrays:
        return "data"
    # Envelopes are tiny ({"teams": [...]}); a record that merely has an array field has many keys.
    if len(arrays) == 1 and len(props) <= 2:
        return arrays[0]
    return None


def _param_facts(op: Operation) -> dict[str, dict[str, Any]]:
    facts: dict[str, dict[str, Any]] = {}
    for name, p in sorted(op.query.items()):
        if name == "orgId":
            continue
        entry: dict[str, Any] = {
            "type": p.type,
            "minimum": p.minimum,
            "maximum": p.maximum,
            "default": p.default,
            "required": p.required,
            "enum": p.enum,
        }
        if p.items_type is not None:
            entry["items_type"] = p.items_type
        if name == "limit":
            entry["limit_source"] = "oas" if p.maximum is not None else None
        facts[name] = entry
    return facts


def operation_facts(op: Operation) -> dict[str, Any]:
    """The facts entry for one operation."""
    # {} (a ref into a file missing from the subset) stays an open schema; None means no JSON body.
    body = merge_composites(op.response_200) if op.response_200 is not None else None
    list_key = find_list_key(body) if isinstance(body, dict) else None
    if list_key is not None and isinstance(body, dict):
        item = merge_composites(body["properties"][list_key].get("items") or {})
    else:
        item = body
    entry: dict[str, Any] = {
        "operationId": op.operation_id,
        "file": op.file,
        "path_params": op.path_params,
        "query": _param_facts(op),
        "scopes": op.scopes,
        "list_key": list_key,
        "item_schema": clean_schema(item, ITEM_SCHEMA_DEPTH) if isinstance(item, dict) else None,
    }
    if op.deprecated:
        entry["deprecated"] = True
    if op.method != "get":
        request = merge_composites(op.request_body) if op.request_body is not None else None
        entry["request_schema"] = (
            clean_schema(request, REQUEST_SCHEMA_DEPTH, keep_constraints=True) if request is not None else None
        )
    return entry


def webhook_events(oas: OASFolder) -> dict[str, dict[str, Any]]:
    """Every event of Webhook.json's subscription schema, with the filter keys it accepts."""
    found = oas.lookup("#/components/schemas/subscriptions", "Webhook.json")
    if found is None:
        return {}
    subs = merge_composites(oas.inline(found[0], found[1]))
    events: dict[str, dict[str, Any]] = {}
    for name, schema in sorted((subs.get("properties") or {}).items()):
        keys = sorted((schema.get("properties") or {}).keys())
        events[name] = {
            "filters": [k for k in keys if k != "includePrevState"],
            "includePrevState": "includePrevState" in keys,
            # Events typed string-or-null take no filter object: the subscription value must be null.
            "takes_filter_object": "object" in as_type_list(schema),
        }
    return events


def build_facts(oas_dir: Path) -> dict[str, Any]:
    """The whole oas_facts.json document."""
    oas = OASFolder(oas_dir)
    operations: dict[str, dict[str, Any]] = {}
    for op in oas.operations():
        if op.method == "get" or op.key in EXTRA_OPERATIONS:
            # Some paths appear in two files (e.g. a related list); the first file in name order wins.
            operations.setdefault(op.key, operation_facts(op))
    for alias, target in ALIASES.items():
        if target in operations:
            entry = {**copy.deepcopy(operations[target]), "alias_of": target}
            entry["path_params"] = [seg[1:-1] for seg in alias.split("/") if seg.startswith("{")]
            operations[alias] = entry
    for key, limits in NOTES_LIMITS.items():
        limit = operations.get(key, {}).get("query", {}).get("limit")
        if limit is not None and limit.get("maximum") is None:
            limit.update(minimum=limits["minimum"], maximum=limits["maximum"], limit_source="notes")
            limit["limit_note"] = limits["why"]
    open_limits = sorted(
        key for key, entry in operations.items() if entry["query"].get("limit", {}).get("maximum", 0) is None
    )
    missing = [op for op in EXTRA_OPERATIONS if op not in operations]
    if missing:
        raise SystemExit(f"OAS lacks operations the fake server needs: {missing}")
    return {
        "source": SOURCE,
        "operations": dict(sorted(operations.items())),
        "limit_max_open": open_limits,
        "webhook_events": webhook_events(oas),
        "unresolved_refs": sorted(oas.missing_refs),
    }


def dump(doc: dict[str, Any]) -> str:
    """Stable text form: sorted keys, one operation / event per line.

    Fully indented the file triples in size; one line per operation keeps diffs readable anyway.
    """
    lines = ["{"]
    keys = sorted(doc)
    for i, key in enumerate(keys):
        value = doc[key]
        tail = "," if i < len(keys) - 1 else ""
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            lines.append(f" {json.dumps(key)}: {{")
            inner = sorted(value)
            for j, name in enumerate(inner):
                comma = "," if j < len(inner) - 1 else ""
                body = json.dumps(value[name], sort_keys=True, ensure_ascii=False)
                lines.append(f"  {json.dumps(name)}: {body}{comma}")
            lines.append(f" }}{tail}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, sort_keys=True, ensure_ascii=False)}{tail}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """CLI: tools/extract_oas_facts.py [--oas DIR] [--out FILE]."""
    oas_dir, out = cli_paths(__doc__, DEFAULT_OUT, REPO_ROOT, argv)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dump(build_facts(oas_dir)), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
