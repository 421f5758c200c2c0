"""Zoho's documented operations (oas_facts.json): route templates, scopes, item schemas and query validation."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

FACTS_PATH = Path(__file__).with_name("oas_facts.json")


class QueryError(Exception):
    """A query string Zoho would answer with 422 UNPROCESSABLE_ENTITY; carries Zoho's wording."""

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


def _types(spec: dict[str, Any]) -> list[str]:
    kind = spec.get("type") or "string"
    return [kind] if isinstance(kind, str) else list(kind)


@dataclass(frozen=True)
class Operation:
    """One documented operation, e.g. `GET /tickets/{ticketId}/threads` (paths are relative to /api/v1)."""

    method: str
    template: str
    query: dict[str, dict[str, Any]]
    scopes: tuple[str, ...]
    list_key: str | None
    item_schema: dict[str, Any] | None
    request_schema: dict[str, Any] | None = None
    pattern: re.Pattern[str] = field(default=re.compile(""), compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def paged(self) -> bool:
        return "from" in self.query or "limit" in self.query

    @property
    def properties(self) -> tuple[str, ...]:
        """Top-level keys a record of this operation has (the projection the real API returns)."""
        return tuple((self.item_schema or {}).get("properties") or ())

    def validate(self, params: list[tuple[str, str]], overrides: dict[str, dict[str, Any]]) -> dict[str, str]:
        """Check a query string the way Zoho does; return it as a dict (orgId dropped).

        `overrides` tightens single parameters (the configurable search offset ceiling).
        """
        values: dict[str, str] = {}
        for name, value in params:
            if name == "orgId":
                continue
            if name not in self.query:
                raise QueryError(f"Extra query parameter '{name}' is present in the input.")
            values[name] = value
        for name, spec in self.query.items():
            spec = {**spec, **overrides.get(name, {})}
            if name not in values:
                if spec.get("required"):
                    raise QueryError(
                        f"The query parameter '{name}' is mandatory.",
                        [{"fieldName": f"/{name}", "errorType": "missing", "errorMessage": f"'{name}' is missing"}],
                    )
                continue
            _check_value(name, values[name], spec)
        return values

    def int_param(self, values: dict[str, str], name: str, fallback: int) -> int:
        """An already validated integer parameter, or its documented default."""
        if name in values:
            return int(values[name])
        default = self.query.get(name, {}).get("default")
        return int(default) if default is not None else fallback


def _invalid(name: str) -> QueryError:
    return QueryError(
        f"The value passed for the '{name}' query parameter is invalid.",
        [{"fieldName": f"/{name}", "errorType": "invalid", "errorMessage": f"'{name}' is invalid"}],
    )


def _check_value(name: str, raw: str, spec: dict[str, Any]) -> None:
    types = _types(spec)
    if "array" in types:
        items = [v for v in raw.split(",")]
        enum = spec.get("enum")
        if any(not v or (enum and v not in enum) for v in items):
            raise _invalid(name)
        if spec.get("items_type") == "integer" and not all(v.lstrip("-").isdigit() for v in items):
            raise _invalid(name)
        return
    if ("integer" in types and "string" not in types) or name in ("from", "limit"):
        # from/limit are typed string-or-integer on some operations, yet Zoho parses them as numbers.
        if not re.fullmatch(r"-?[0-9]+", raw):
            raise _invalid(name)
        number = int(raw)
        low, high = spec.get("minimum"), spec.get("maximum")
        if low is None and name in ("from", "limit"):
            low = 0 if name == "from" else 1  # the OAS leaves some open; a negative offset is never valid
        if (low is not None and number < low) or (high is not None and number > high):
            if low is not None and high is not None:
                # Wording of Zoho's live error (notes section 3).
                raise QueryError(f"The value passed for field '{name}' exceeds the range of '{low}-{high}'.")
            raise _invalid(name)
        return
    if "boolean" in types and "string" not in types:
        if raw not in ("true", "false"):
            raise _invalid(name)
        return
    enum = spec.get("enum")
    # A leading '-' sorts descending on every sortBy (notes sections 3 and 4), even where the OAS enum
    # lists only the ascending names.
    value = raw[1:] if name == "sortBy" and raw.startswith("-") else raw
    if enum and raw not in enum and value not in enum:
        raise _invalid(name)


def _compile(template: str) -> re.Pattern[str]:
    parts = [
        "(?P<" + seg[1:-1] + ">[^/]+)" if seg.startswith("{") else re.escape(seg) for seg in template.split("/")
    ]
    return re.compile("/".join(parts) + "$")


class Facts:
    """The operations the fake serves, looked up by method and concrete path."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.operations: dict[str, Operation] = {}
        for key, entry in doc["operations"].items():
            method, template = key.split(" ", 1)
            self.operations[key] = Operation(
                method=method,
                template=template,
                query=entry.get("query") or {},
                scopes=tuple(entry.get("scopes") or ()),
                list_key=entry.get("list_key"),
                item_schema=entry.get("item_schema"),
                request_schema=entry.get("request_schema"),
                pattern=_compile(template),
            )
        self.webhook_events: dict[str, dict[str, Any]] = doc.get("webhook_events") or {}

    def op(self, key: str) -> Operation:
        return self.operations[key]

    def match(self, method: str, path: str, served: set[str]) -> tuple[Operation, dict[str, str]] | None:
        """The served operation for a path; literal segments win over parameters (/tickets/search)."""
        candidates = []
        for key in served:
            op = self.operations[key]
            if op.method != method:
                continue
            found = op.pattern.match(path)
            if found:
                candidates.append((op.template.count("{"), op, found.groupdict()))
        if not candidates:
            return None
        candidates.sort(key=lambda c: c[0])
        return candidates[0][1], candidates[0][2]

    def path_known(self, path: str, served: set[str]) -> bool:
        """True when some served operation (any method) has this path: then 405, not 404."""
        return any(self.operations[k].pattern.match(path) for k in served)


@cache
def load_facts(path: Path = FACTS_PATH) -> Facts:
    """Parse the committed facts file once per process."""
    return Facts(json.loads(path.read_text(encoding="utf-8")))
