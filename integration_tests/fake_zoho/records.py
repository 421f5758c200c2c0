"""Deterministic Zoho Desk records: each one a pure function of (seed, stream, index), shaped by the OAS schemas."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from integration_tests.fake_zoho.facts import Facts

Record = dict[str, Any]

# Base data lives in 2024 so that "now" (a mutation) is always later than every generated modifiedTime.
T0_MS = 1_704_067_200_000  # 2024-01-01T00:00:00.000Z
STEP_MS = 60_000
MODIFIED_OFFSET_MS = 6 * 3_600_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHILD_SLOTS = 1000  # child index = parent index * CHILD_SLOTS + position under that parent


@dataclass(frozen=True)
class StreamSpec:
    """Where a stream lives in Zoho and how its records relate to others."""

    name: str
    code: int  # two digits inside every id of the stream, so ids are unique across streams
    list_op: str
    get_op: str | None = None
    search_op: str | None = None
    parent: str | None = None  # "tickets" for per-ticket child lists
    event: str | None = None  # webhook event prefix, e.g. "Ticket" -> Ticket_Add/Update/Delete
    by_department: bool = False  # records are spread over departments (list filter departmentId)


STREAMS: dict[str, StreamSpec] = {
    s.name: s
    for s in (
        StreamSpec("tickets", 10, "GET /tickets", "GET /tickets/{ticketId}", "GET /tickets/search",
                   event="Ticket", by_department=True),
        StreamSpec("departments", 11, "GET /departments", "GET /departments/{departmentId}", event="Department"),
        StreamSpec("agents", 12, "GET /agents", "GET /agents/{agentId}", event="Agent"),
        StreamSpec("teams", 13, "GET /teams", "GET /teams/{teamId}"),
        StreamSpec("contacts", 14, "GET /contacts", "GET /contacts/{contactId}", "GET /contacts/search",
                   event="Contact"),
        StreamSpec("accounts", 15, "GET /accounts", "GET /accounts/{accountId}", "GET /accounts/search",
                   event="Account"),
        StreamSpec("products", 16, "GET /products", "GET /products/{productId}", "GET /products/search",
                   by_department=True),
        StreamSpec("contracts", 17, "GET /contracts", "GET /contracts/{id}", by_department=True),
        StreamSpec("tasks", 18, "GET /tasks", "GET /tasks/{taskId}", "GET /tasks/search", event="Task",
                   by_department=True),
        StreamSpec("calls", 19, "GET /calls", "GET /calls/{callId}", "GET /calls/search", event="Call",
                   by_department=True),
        StreamSpec("events", 20, "GET /events", "GET /events/{eventId}", "GET /events/search", event="Event",
                   by_department=True),
        StreamSpec("articles", 21, "GET /articles", "GET /articles/{id}", "GET /articles/search",
                   event="Article", by_department=True),
        StreamSpec("ticket_threads", 30, "GET /tickets/{ticketId}/threads",
                   "GET /tickets/{ticketId}/threads/{threadId}", parent="tickets", event="Ticket_Thread"),
        StreamSpec("ticket_comments", 31, "GET /tickets/{ticketId}/comments",
                   "GET /tickets/{ticketId}/comments/{commentId}", parent="tickets", event="Ticket_Comment"),
        StreamSpec("ticket_attachments", 32, "GET /tickets/{ticketId}/attachments", parent="tickets",
                   event="Ticket_Attachment"),
        StreamSpec("ticket_time_entries", 33, "GET /tickets/{ticketId}/timeEntry",
                   "GET /tickets/{ticketId}/timeEntry/{timeEntryId}", parent="tickets", event="TimeEntry"),
    )
}
MODULES = ("tickets", "contacts", "accounts", "tasks", "calls", "events", "products", "contracts", "timeEntry")
# Metadata streams (not mutable) reuse the id scheme with their own codes.
LAYOUT_CODE, FIELD_CODE, MODULE_CODE, ORG_CODE, WEBHOOK_CODE = 40, 41, 42, 43, 44

# Field name -> the stream its id points into; keeps every relation pointing at a real record.
RELATIONS = {
    "departmentId": "departments", "contactId": "contacts", "accountId": "accounts", "productId": "products",
    "teamId": "teams", "assigneeId": "agents", "ownerId": "agents", "creatorId": "agents", "authorId": "agents",
    "commenterId": "agents", "responderId": "agents", "agentId": "agents", "modifierId": "agents",
    "latestVersionModifierId": "agents", "createdBy": "agents", "modifiedBy": "agents",
}
# Nested objects that describe a related record: their "id" must match the relation's id field.
NESTED = {
    "department": "departmentId", "contact": "contactId", "account": "accountId", "product": "productId",
    "team": "teamId", "assignee": "assigneeId", "owner": "ownerId", "creator": "creatorId",
    "author": "authorId", "commenter": "commenterId",
}
NAME_FIELDS = {
    "subject": "Subject", "name": "Name", "title": "Article", "accountName": "Account", "productName": "Product",
    "contractName": "Contract", "layoutName": "Layout", "firstName": "First", "lastName": "Last",
}
EMAIL_FIELDS = ("email", "emailId", "fromEmailAddress")
# Nullable time fields stay null in generated records, as they are for open tickets in Zoho.
NULL_TIMES = {"closedTime", "onholdTime", "lockedTime", "completedTime", "templateLastUpdatedTime"}
TICKET_STATUSES = (("Open", "Open"), ("On Hold", "On Hold"), ("Escalated", "Open"), ("Closed", "Closed"))


def make_id(seed: int, code: int, index: int) -> str:
    """An 18-digit id string: seed digit, stream code, 15-digit index (so it decodes back to the index)."""
    return f"{1 + seed % 9}{code:02d}{index:015d}"


def parse_id(value: str, seed: int, code: int) -> int | None:
    """The index an id encodes, or None when it is not an id of that stream."""
    if len(value) != 18 or not value.isdigit() or value[:3] != f"{1 + seed % 9}{code:02d}":
        return None
    return int(value[3:])


@cache
def _day(days: int) -> str:
    return datetime.fromtimestamp(days * 86_400, UTC).strftime("%Y-%m-%dT")


def iso(ms: int) -> str:
    """Zoho's timestamp form: ISO-8601 UTC with milliseconds (day prefix cached: this is the hot path)."""
    days, rest = divmod(ms, 86_400_000)
    seconds, millis = divmod(rest, 1000)
    minutes, sec = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    return f"{_day(days)}{hours:02d}:{minute:02d}:{sec:02d}.{millis:03d}Z"


def parse_iso(text: str) -> int:
    """Epoch ms of an ISO-8601 UTC timestamp (with or without milliseconds)."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Integer arithmetic: float timestamps lose a millisecond now and then.
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(milliseconds=1)


def mix(*parts: int) -> int:
    """A small deterministic hash; Python's hash() is salted per process, so it cannot be used."""
    h = 0x9E3779B9
    for p in parts:
        h = ((h ^ (p & 0xFFFFFFFFFFFF)) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h


def created_ms(index: int) -> int:
    """createdTime of base record `index`: strictly increasing with the index."""
    return T0_MS + index * STEP_MS + (index * 7919) % 1000


def modified_ms(index: int) -> int:
    """modifiedTime of base record `index`: non-decreasing, and every 10th pair shares one value.

    Equal modifiedTimes are real (bulk updates); cursors and search windows must cope with ties.
    """
    slot = index - 1 if index % 10 == 9 else index
    return T0_MS + MODIFIED_OFFSET_MS + slot * STEP_MS + (slot * 7919) % 1000


def child_created_ms(index: int) -> int:
    """Children of a ticket are created a minute apart, after the ticket."""
    return created_ms(index // CHILD_SLOTS) + 60_000 * (1 + index % CHILD_SLOTS)


def child_modified_ms(index: int) -> int:
    return child_created_ms(index) + 30_000


def merged_schema(facts: Facts, spec: StreamSpec) -> dict[str, Any]:
    """Union of the properties of a stream's list, get and search item schemas (the full record)."""
    props: dict[str, Any] = {}
    for key in (spec.list_op, spec.get_op, spec.search_op):
        op = facts.operations.get(key) if key else None
        if op and op.item_schema:
            for name, sub in (op.item_schema.get("properties") or {}).items():
                props.setdefault(name, sub)
    return {"type": "object", "properties": props}


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type")
    if kind is None:
        return ["object"] if "properties" in schema else ["string"]
    return [kind] if isinstance(kind, str) else list(kind)


def sample_value(name: str, schema: dict[str, Any], depth: int = 0) -> Any:
    """A constant, schema-valid value for a property (the per-record fields are set elsewhere)."""
    types = _types(schema)
    enum = [v for v in schema.get("enum") or () if v is not None and v != "null"]
    if enum:
        return enum[0]
    if "object" in types:
        props = schema.get("properties") or {}
        if depth >= 3:
            return {}
        return {k: sample_value(k, v, depth + 1) for k, v in props.items()}
    if "array" in types:
        return []
    if schema.get("format") == "date-time":
        return None if "null" in types else iso(T0_MS)
    if schema.get("format") == "date":
        return "2024-06-30"
    if "string" in types:
        if schema.get("format") in ("int64", "int32"):
            return "0" if "id" not in name.lower() else None
        if name.endswith("URL") or name.endswith("Url") or name in ("href", "webUrl", "previewurl"):
            return f"https://desk.zoho.com/{name}"
        return f"sample {name}"
    if "integer" in types or "number" in types:
        return schema.get("minimum") or 0
    if "boolean" in types:
        return False
    return None


Setter = Callable[[Record, int, int], None]


class RecordFactory:
    """Builds records of one stream from a template plus a few per-record fields (cheap for 200k rows)."""

    def __init__(self, spec: StreamSpec, schema: dict[str, Any], seed: int, sizes: dict[str, int]) -> None:
        self.spec = spec
        self.seed = seed
        self.sizes = sizes
        props: dict[str, Any] = schema.get("properties") or {}
        self.time_fields = tuple(
            k for k, v in props.items() if v.get("format") == "date-time" or k in ("createdTime", "modifiedTime")
        )
        self.template: Record = {}
        self.setters: list[Setter] = []
        for name, sub in props.items():
            self.template[name] = sample_value(name, sub)
            setter = self._setter(name, sub)
            if setter is not None:
                self.setters.append(setter)
        # Every record has these even when an OAS view omits them (projection removes them again).
        for name in ("id", "createdTime", "modifiedTime"):
            if name not in props:
                self.template[name] = None
                setter = self._setter(name, {"type": "string"})
                assert setter is not None  # id and the two times always have one
                self.setters.append(setter)
        if spec.parent:
            self.template.setdefault("ticketId", None)
            self.setters.append(self._parent_setter())

    def related_id(self, target: str, index: int, field: str) -> str | None:
        """Id of the record `field` of record `index` points to (departments by index, others hashed)."""
        count = self.sizes.get(target, 0)
        if count <= 0:
            return None
        if target == "departments" and self.spec.parent:
            pick = self.parent_index(index) % count  # a child lives in its ticket's department
        elif target == "departments" and self.spec.by_department:
            pick = index % count
        elif field == "accountId" and "contactId" in self.template and self.spec.name != "contacts":
            # A ticket's account is its contact's account, as in Zoho.
            contacts = self.sizes.get("contacts", 0)
            if contacts <= 0:
                return None
            contact = mix(self.seed, self.spec.code, index, len("contactId")) % contacts
            pick = mix(self.seed, STREAMS["contacts"].code, contact, len(field)) % count
        else:
            pick = mix(self.seed, self.spec.code, index, len(field)) % count
        return make_id(self.seed, STREAMS[target].code, pick)

    def parent_index(self, index: int) -> int:
        return index // CHILD_SLOTS

    def _parent_setter(self) -> Setter:
        code = STREAMS["tickets"].code

        def set_parent(rec: Record, index: int, h: int) -> None:
            rec["ticketId"] = make_id(self.seed, code, index // CHILD_SLOTS)

        return set_parent

    def _setter(self, name: str, schema: dict[str, Any]) -> Setter | None:
        seed, code = self.seed, self.spec.code
        child = self.spec.parent is not None
        if name == "id":
            return lambda rec, i, h: rec.__setitem__("id", make_id(seed, code, i))
        if name in ("createdTime", "commentedTime", "executedTime"):
            created = child_created_ms if child else created_ms
            return lambda rec, i, h: rec.__setitem__(name, iso(created(i)))
        if name == "modifiedTime":
            modified = child_modified_ms if child else modified_ms
            return lambda rec, i, h: rec.__setitem__(name, iso(modified(i)))
        if name in NULL_TIMES:
            return None
        if schema.get("format") == "date-time":
            # dueDate and friends: a day after creation, so they stay plausible.
            created = child_created_ms if child else created_ms
            return lambda rec, i, h: rec.__setitem__(name, iso(created(i) + 86_400_000))
        if name in RELATIONS:
            target = RELATIONS[name]
            return lambda rec, i, h: rec.__setitem__(name, self.related_id(target, i, name))
        if name in NAME_FIELDS:
            label = NAME_FIELDS[name]
            return lambda rec, i, h: rec.__setitem__(name, f"{label} {i}")
        if name in EMAIL_FIELDS:
            stream = self.spec.name
            return lambda rec, i, h: rec.__setitem__(name, f"{stream}{i}@example.com")
        if name == "ticketNumber":
            return lambda rec, i, h: rec.__setitem__(name, str(101 + i))
        if name == "status" and self.spec.name == "tickets":
            def set_status(rec: Record, i: int, h: int) -> None:
                rec["status"], rec["statusType"] = TICKET_STATUSES[h % len(TICKET_STATUSES)]

            return set_status
        enum = [v for v in schema.get("enum") or () if v is not None and v != "null"]
        if len(enum) > 1 and name != "statusType":
            shift = len(name) % 17  # decorrelate the enum fields of one record
            return lambda rec, i, h: rec.__setitem__(name, enum[(h >> shift) % len(enum)])
        return None

    def build(self, index: int) -> Record:
        """The base record at `index` (a fresh dict; nested values are shared, copy before mutating)."""
        rec = dict(self.template)
        h = mix(self.seed, self.spec.code, index)
        for setter in self.setters:
            setter(rec, index, h)
        # Nested copies of related records (department, contact, ...) carry the same id as the id field.
        for name in NESTED:
            if isinstance(rec.get(name), dict) and NESTED[name] in rec:
                rec[name] = {**rec[name], "id": rec[NESTED[name]]} if rec[NESTED[name]] else None
        return rec


def deep_copy(rec: Record) -> Record:
    """A record safe to mutate (the overlay owns it)."""
    return copy.deepcopy(rec)
