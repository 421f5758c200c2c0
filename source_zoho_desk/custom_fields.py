"""Custom fields: type each module's `cf` object from /organizationFields and coerce Zoho's values to those types.

Zoho Desk keeps a record's custom fields in `cf` ({"cf_region": "Asia", "cf_seats": "12", ...}). The
committed stream schemas can only declare `cf` as an open object, because every org defines its own
fields. At discover time this module turns the org's field list (`GET /organizationFields?module=M`,
the OAS `getFields`) into typed, nullable `cf` properties so warehouses get real columns; at read time
it converts the values Zoho sends (mostly strings; "" for empty) to the declared JSON types.

Nothing here may fail a sync: a field list that cannot be read leaves `cf` open (WARN naming the module
and the reason), and a value that cannot be read as its declared type is emitted as null (WARN, counted
per field) — the record itself is always emitted.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from source_zoho_desk.records import normalise_time

logger = logging.getLogger("airbyte")

# Which Zoho module's fields describe a stream's `cf` (module names as the `module` parameter spells them).
STREAM_MODULES: Mapping[str, str] = {
    "tickets": "tickets",
    "contacts": "contacts",
    "accounts": "accounts",
    "tasks": "tasks",
    "calls": "calls",
    "events": "events",
    "products": "products",
    "contracts": "contracts",
    "ticket_time_entries": "timeEntry",
}

# JSON kinds a custom field can have in `cf`; each maps to one property schema and one converter.
STRING, INTEGER, NUMBER, BOOLEAN, DATE, DATE_TIME, STRING_LIST = (
    "string", "integer", "number", "boolean", "date", "date-time", "string-list",
)

# Zoho's field types (OAS Field.json `type` enum, plus the spellings Layout.json's prose uses), lower-cased.
ZOHO_TYPE_KINDS: Mapping[str, str] = {
    "text": STRING,
    "textarea": STRING,
    "largetext": STRING,
    "email": STRING,
    "phone": STRING,
    "fax": STRING,
    "url": STRING,
    "website": STRING,
    "picklist": STRING,
    "autonumber": STRING,  # may carry a prefix/suffix ("TKT-0042"), so never a number
    "lookup": STRING,  # the id of the looked-up record; ids are strings throughout the connector
    "multiselect": STRING_LIST,
    "multilookup": STRING_LIST,
    "number": INTEGER,  # the OAS maps Number to integerFieldResponseNew
    "decimal": NUMBER,
    "currency": NUMBER,
    "percent": NUMBER,
    "boolean": BOOLEAN,
    "checkbox": BOOLEAN,
    "date": DATE,
    "datetime": DATE_TIME,
    "date time": DATE_TIME,
}

# A Formula field's values have the type of its returnType (OAS: STRING, DECIMAL, BOOLEAN, CURRENCY, DATE, DATETIME).
FORMULA_RETURN_KINDS: Mapping[str, str] = {
    "string": STRING,
    "decimal": NUMBER,
    "currency": NUMBER,
    "boolean": BOOLEAN,
    "date": DATE,
    "datetime": DATE_TIME,
}

# Zoho joins the options of a multi-select value with ";" ("Red;Blue").
MULTI_SEPARATOR = ";"
_INTEGER_TEXT = re.compile(r"[+-]?\d+")
# Plain decimal notation only: Python's float() would also take "nan", "inf" and "1_000".
_NUMBER_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
# WARN about a field's unreadable values on the 1st, 10th, 100th, ... occurrence: visible, never a flood.
_WARN_AT = frozenset(10**n for n in range(10))


ZOHO_TYPE_KEY = "x-zoho-type"
ZOHO_RETURN_TYPE_KEY = "x-zoho-return-type"


@dataclass(frozen=True)
class CustomField:
    """One custom field of a module as /organizationFields describes it."""

    api_name: str  # the key inside `cf`, e.g. "cf_region"
    type: str  # Zoho's type as sent, e.g. "Picklist"
    label: str | None = None
    field_id: str | None = None
    return_type: str | None = None  # Formula fields only
    decimal_places: int | None = None

    @property
    def kind(self) -> str:
        """The JSON kind values of this field are emitted as; unknown Zoho types are strings."""
        zoho_type = self.type.strip().lower()
        if zoho_type == "formula":
            return FORMULA_RETURN_KINDS.get((self.return_type or "").strip().lower(), STRING)
        return ZOHO_TYPE_KINDS.get(zoho_type, STRING)


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _optional_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def parse_fields(records: Iterable[Mapping[str, Any]]) -> list[CustomField]:
    """The custom fields among /organizationFields records, in Zoho's order (first one wins per apiName).

    Records without an apiName are skipped: `cf` is keyed by apiName, so such a field has no column.
    """
    fields: dict[str, CustomField] = {}
    for record in records:
        if not isinstance(record, Mapping) or not _is_true(record.get("isCustomField")):
            continue
        api_name = record.get("apiName")
        if not isinstance(api_name, str) or not api_name.strip() or api_name in fields:
            continue
        zoho_type = record.get("type")
        label = record.get("displayLabel") or record.get("i18NLabel") or record.get("name")
        fields[api_name] = CustomField(
            api_name=api_name,
            type=zoho_type if isinstance(zoho_type, str) and zoho_type.strip() else "Text",
            label=str(label) if label is not None else None,
            field_id=str(record["id"]) if record.get("id") is not None else None,
            return_type=record.get("returnType") if isinstance(record.get("returnType"), str) else None,
            decimal_places=_optional_int(record.get("decimalPlaces")),
        )
    return list(fields.values())


def _property_schema(field: CustomField) -> dict[str, Any]:
    kind = field.kind
    if kind == STRING_LIST:
        schema: dict[str, Any] = {"type": ["null", "array"], "items": {"type": "string"}}
    elif kind in (DATE, DATE_TIME):
        schema = {"type": ["null", "string"], "format": kind}
    else:
        schema = {"type": ["null", kind]}
    label = f"{field.label!r} " if field.label else ""
    schema["description"] = f"Zoho Desk custom field {label}({field.type})."
    # Machine-readable, so a read can coerce from the catalog Airbyte hands it without asking Zoho again.
    schema[ZOHO_TYPE_KEY] = field.type
    if field.return_type:
        schema[ZOHO_RETURN_TYPE_KEY] = field.return_type
    return schema


def fields_from_cf_schema(cf: Any) -> list[CustomField] | None:
    """The custom fields a (configured) `cf` schema was typed with; None when it carries no Zoho types."""
    properties = cf.get("properties") if isinstance(cf, Mapping) else None
    if not isinstance(properties, Mapping):
        return None
    fields = [
        CustomField(api_name=name, type=prop[ZOHO_TYPE_KEY], return_type=prop.get(ZOHO_RETURN_TYPE_KEY))
        for name, prop in properties.items()
        if isinstance(prop, Mapping) and isinstance(prop.get(ZOHO_TYPE_KEY), str)
    ]
    return fields or None


def open_cf_schema() -> dict[str, Any]:
    """`cf` as the committed schemas declare it: any keys, any values."""
    return {"type": ["null", "object"], "additionalProperties": True}


def cf_schema(fields: Iterable[CustomField]) -> dict[str, Any]:
    """JSON schema (draft-07) of `cf`: one nullable typed property per field, open for fields added later."""
    schema = open_cf_schema()
    properties = {field.api_name: _property_schema(field) for field in fields}
    if properties:
        schema["properties"] = properties
    return schema


class Unreadable(ValueError):
    """A value that cannot be read as its field's declared type."""


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise Unreadable("a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise Unreadable("not a whole number")
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER_TEXT.fullmatch(text):
            return int(text)  # exact for big values ("1892220000042001"), no float round trip
        number = _decimal(text)
        if number == number.to_integral_value():
            return int(number)  # "12.0", "1.2e1"
    raise Unreadable("not a whole number")


def _decimal(text: str) -> Decimal:
    if not _NUMBER_TEXT.fullmatch(text):
        raise Unreadable("not a number")
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise Unreadable("not a number") from exc
    if not number.is_finite():
        raise Unreadable("not a finite number")
    return number


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise Unreadable("a boolean is not a number")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        # Percent fields are sometimes rendered "12.5%"; the number is the same.
        number = float(_decimal(text[:-1].strip() if text.endswith("%") else text))
    else:
        raise Unreadable("not a number")
    if not math.isfinite(number):
        raise Unreadable("not a finite number")  # JSON has no NaN/Infinity; "1e999" overflows to inf
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise Unreadable("not a boolean")


def _date(value: Any) -> str:
    if isinstance(value, bool):
        raise Unreadable("not a date")
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()
                                           and len(value.strip()) >= 10):
        moment = normalise_time(value if not isinstance(value, str) else value.strip())
        return str(moment)[:10]  # epoch ms → its UTC calendar day
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise Unreadable("not a YYYY-MM-DD date") from exc
        # The calendar day as written: a date has no zone, so an attached time is not shifted to UTC.
        return moment.date().isoformat()
    raise Unreadable("not a date")


def _date_time(value: Any) -> str:
    if isinstance(value, bool):
        raise Unreadable("not a date-time")
    normalised = normalise_time(value.strip() if isinstance(value, str) else value)  # epoch ms → ISO UTC
    if not isinstance(normalised, str):
        raise Unreadable("not a date-time")
    try:
        moment = datetime.fromisoformat(normalised)
    except ValueError as exc:
        raise Unreadable("not an ISO-8601 date-time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # Zoho's API times are UTC unless they say otherwise
    moment = moment.astimezone(UTC)
    # The connector's one time form (as records.iso_from_epoch_ms writes it): UTC, milliseconds, "Z".
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, Mapping) and value.get("id") is not None:
        return str(value["id"])  # a lookup sent as the looked-up record: keep its id, like the ...Id columns
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _string_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        items: list[Any] = value.split(MULTI_SEPARATOR)
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    out = [_string(item).strip() for item in items if item is not None]
    out = [item for item in out if item]
    return out or None  # no selection is null, whether Zoho sent "", [] or ";"


CONVERTERS: Mapping[str, Callable[[Any], Any]] = {
    STRING: _string,
    INTEGER: _integer,
    NUMBER: _number,
    BOOLEAN: _boolean,
    DATE: _date,
    DATE_TIME: _date_time,
    STRING_LIST: _string_list,
}


class CustomFieldCoercer:
    """Converts the values of a `cf` object to the types cf_schema(fields) declares.

    Empty values (None, "", whitespace) become null. A value that cannot be read as its type becomes
    null too — the schema promises that type, and a destination would reject the raw string — and is
    counted per field (`invalid`), with a WARN on the 1st, 10th, 100th... occurrence. Keys that are not
    declared custom fields (added after discover) pass through unchanged. Never raises for any input.
    """

    def __init__(self, fields: Iterable[CustomField], module: str | None = None,
                 log: logging.Logger | None = None) -> None:
        self.fields = {field.api_name: field for field in fields}
        self.module = module
        self.invalid: Counter[str] = Counter()
        self._log = log or logger
        self._lock = threading.Lock()  # pages may be parsed on fetch threads

    def __bool__(self) -> bool:
        return bool(self.fields)

    def coerce(self, cf: Any) -> Any:
        """The `cf` object with declared fields converted, in place (non-mappings are returned untouched)."""
        if not isinstance(cf, MutableMapping):
            return cf
        for name, field in self.fields.items():
            if name in cf:
                cf[name] = self.value(field, cf[name])
        return cf

    def coerce_record(self, record: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """Coerce `record["cf"]` when the record has one; the record is returned for chaining."""
        if self.fields and isinstance(record.get("cf"), MutableMapping):
            self.coerce(record["cf"])
        return record

    def value(self, field: CustomField, raw: Any) -> Any:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        kind = field.kind
        try:
            return CONVERTERS[kind](raw)
        except Unreadable as exc:
            self._unreadable(field, kind, raw, str(exc))
        except Exception as exc:  # a converter bug must cost one value, never the sync
            self._unreadable(field, kind, raw, f"{type(exc).__name__}: {exc}")
        return None

    def _unreadable(self, field: CustomField, kind: str, raw: Any, reason: str) -> None:
        with self._lock:
            self.invalid[field.api_name] += 1
            count = self.invalid[field.api_name]
        if count in _WARN_AT:
            where = f" of module {self.module}" if self.module else ""
            sample = repr(raw)
            sample = sample if len(sample) <= 40 else sample[:37] + "..."
            self._log.warning(
                f"Custom field {field.api_name}{where} is declared {field.type} ({kind}) but {count} value(s) "
                f"could not be read as such ({reason}; e.g. {sample}); they were emitted as null."
            )


FieldFetcher = Callable[[str], Iterable[Mapping[str, Any]]]


class CustomFieldCatalog:
    """Each module's custom fields, fetched at most once per process through `fetch(module)`.

    `fetch` returns the /organizationFields records of one module. Any error while fetching or parsing
    them is logged (WARN, naming the module and the reason) and remembered: that module's `cf` stays the
    open object for the rest of the process, so discover never fails because of custom fields.

    After `max_failures` modules have failed, the rest are not asked at all: an error that reaches us has
    already been retried by the stream (up to ten minutes), and one outage must not cost that nine times.
    """

    def __init__(self, fetch: FieldFetcher, log: logging.Logger | None = None, max_failures: int = 2) -> None:
        self._fetch = fetch
        self._log = log or logger
        self._max_failures = max_failures
        self._failures = 0
        self._fields: dict[str, list[CustomField] | None] = {}
        self._coercers: dict[str, CustomFieldCoercer] = {}
        self._lock = threading.Lock()

    @staticmethod
    def module_for(stream_name: str) -> str | None:
        return STREAM_MODULES.get(stream_name)

    def fields(self, module: str) -> list[CustomField] | None:
        """The module's custom fields; None when they could not be read (then `cf` stays open)."""
        with self._lock:
            if module not in self._fields:
                self._fields[module] = self._load(module)
            return self._fields[module]

    def _load(self, module: str) -> list[CustomField] | None:
        if self._failures >= self._max_failures:
            self._log.warning(
                f"Not reading the custom fields of Zoho Desk module {module!r}: {self._failures} modules already "
                "failed; its cf column stays an untyped object."
            )
            return None
        try:
            return parse_fields(self._fetch(module))
        except Exception as exc:  # any failure here must leave cf open, never fail discover or read
            self._failures += 1
            self._log.warning(
                f"Could not read the custom fields of Zoho Desk module {module!r} "
                f"({type(exc).__name__}: {exc}); its cf column stays an untyped object."
            )
            return None

    def seed(self, module: str, fields: list[CustomField]) -> None:
        """Use these fields for the module (e.g. from the configured catalog) instead of asking Zoho."""
        with self._lock:
            self._fields.setdefault(module, fields)

    def cf_schema(self, module: str) -> dict[str, Any]:
        fields = self.fields(module)
        return cf_schema(fields) if fields else open_cf_schema()

    def coercer(self, module: str) -> CustomFieldCoercer:
        """One coercer per module, so unreadable values are counted across all streams of the process."""
        fields = self.fields(module) or []
        with self._lock:
            if module not in self._coercers:
                self._coercers[module] = CustomFieldCoercer(fields, module=module, log=self._log)
            return self._coercers[module]

    def typed_schema(self, stream_name: str, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """A stream schema whose `cf` is typed, or `schema` itself when the stream has no module.

        A schema without `cf` (contracts: the OAS list item omits it, get-by-id has it) gains a typed `cf`
        only when the module has custom fields, so no always-empty column appears for nothing.
        """
        module = self.module_for(stream_name)
        properties = schema.get("properties")
        if module is None or not isinstance(properties, Mapping):
            return schema
        if "cf" not in properties and not self.fields(module):
            return schema
        typed = dict(schema)  # shallow copies: the CDK caches the loaded schema file
        typed["properties"] = {**properties, "cf": self.cf_schema(module)}
        return typed

    def coercer_for(self, stream_name: str) -> CustomFieldCoercer | None:
        """The coercer of a stream's module, or None when the stream has no custom fields to coerce."""
        module = self.module_for(stream_name)
        if module is None:
            return None
        coercer = self.coercer(module)
        return coercer if coercer else None

    def invalid_counts(self) -> dict[str, int]:
        """Unreadable values per "module.apiName" so far (for a summary at the end of a sync)."""
        with self._lock:
            coercers = dict(self._coercers)
        return {f"{m}.{name}": n for m, c in coercers.items() for name, n in c.invalid.items()}
