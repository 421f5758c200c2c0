"""Zoho Desk webhook events: the eventType -> partition (stream) table, validation and normalisation."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

# Partitions are the source's stream names (the README's Streams table). The table is explicit, not a prefix
# rule: Ticket_Approval_Add or Agent_Presence_Update carry an approval / a presence, not a ticket or an
# agent, so routing them by prefix would hand the tickets/agents streams records of the wrong shape.
# Zoho events that have no stream of their own get a partition named after what they carry.
PARTITIONS: dict[str, str] = {
    # tickets
    "Ticket_Add": "tickets",
    "Ticket_Update": "tickets",
    "Ticket_Delete": "tickets",
    "Ticket_Thread_Add": "ticket_threads",
    "Ticket_Comment_Add": "ticket_comments",
    "Ticket_Comment_Update": "ticket_comments",
    "Ticket_Approval_Add": "ticket_approvals",
    "Ticket_Approval_Update": "ticket_approvals",
    # attachments
    "Ticket_Attachment_Add": "ticket_attachments",
    "Ticket_Attachment_Update": "ticket_attachments",
    "Ticket_Attachment_Delete": "ticket_attachments",
    "Ticket_Attachment_Trashed": "ticket_attachments",
    "Ticket_Attachment_Restored": "ticket_attachments",
    "Ticket_Comment_Attachment_Add": "ticket_comment_attachments",
    "Ticket_Comment_Attachment_Delete": "ticket_comment_attachments",
    # contacts, accounts
    "Contact_Add": "contacts",
    "Contact_Update": "contacts",
    "Contact_Delete": "contacts",
    "Account_Add": "accounts",
    "Account_Update": "accounts",
    "Account_Delete": "accounts",
    # agents, departments (Zoho has no Department_Delete)
    "Agent_Add": "agents",
    "Agent_Update": "agents",
    "Agent_Delete": "agents",
    "Agent_Presence_Update": "agent_presence",
    "Agent_Channel_Preference_Update": "agent_channel_preferences",
    "Department_Add": "departments",
    "Department_Update": "departments",
    # activities
    "Task_Add": "tasks",
    "Task_Update": "tasks",
    "Task_Delete": "tasks",
    "Call_Add": "calls",
    "Call_Update": "calls",
    "Call_Delete": "calls",
    "Event_Add": "events",
    "Event_Update": "events",
    "Event_Delete": "events",
    "TimeEntry_Add": "ticket_time_entries",
    "TimeEntry_Update": "ticket_time_entries",
    "TimeEntry_Delete": "ticket_time_entries",
    # knowledge base
    "Article_Add": "articles",
    "Article_Update": "articles",
    "Article_Delete": "articles",
    "Article_Translation_Add": "article_translations",
    "Article_Translation_Update": "article_translations",
    "Article_Translation_Delete": "article_translations",
    "Article_Feedback_Add": "article_feedback",
    "KBRootCategory_Add": "kb_root_categories",
    "KBRootCategory_Update": "kb_root_categories",
    "KBRootCategory_Delete": "kb_root_categories",
    "KBSection_Add": "kb_sections",
    "KBSection_Update": "kb_sections",
    "KBSection_Delete": "kb_sections",
    # TapData spells the KB events this way; the OAS spelling above is canonical, but which one the
    # live API sends is unconfirmed (notes §6), so both land in the same partition.
    "KB_RootCategory_Add": "kb_root_categories",
    "KB_RootCategory_Update": "kb_root_categories",
    "KB_RootCategory_Delete": "kb_root_categories",
    "KB_Section_Add": "kb_sections",
    "KB_Section_Update": "kb_sections",
    "KB_Section_Delete": "kb_sections",
    # instant messaging
    "IM_Message_Add": "im_messages",
    "IM_Message_Status": "im_messages",
    "IM_Session_Status": "im_sessions",
}

# An event type the collector does not know is kept (never dropped) in this one partition and counted.
# One shared partition rather than one per type: the type comes from the request body, and a partition
# (and metrics label) per attacker-chosen string would be unbounded.
UNKNOWN_PARTITION = "unknown"

ALL_PARTITIONS: frozenset[str] = frozenset(PARTITIONS.values()) | {UNKNOWN_PARTITION}

# Zoho's names are CamelCase words joined by "_"; anything else is not an event type we could route.
_EVENT_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")
_ORG_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
PARTITION_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")

# Payload keys that carry the entity id, most specific first; used only in the duplicate key.
_ID_KEYS = ("id", "ticketId", "contactId", "accountId", "agentId", "articleId")


class EventError(ValueError):
    """A webhook body or event that cannot be stored; `reason` is a stable metrics label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Event:
    """One validated event, ready to store."""

    event_type: str
    partition: str
    event_time_ms: int
    org_id: str
    payload_json: str
    prev_state_json: str | None
    entity_id: str | None
    dedupe_key: str

    @property
    def known(self) -> bool:
        return self.partition != UNKNOWN_PARTITION


def partition_for(event_type: str) -> str:
    return PARTITIONS.get(event_type, UNKNOWN_PARTITION)


def _reject_constant(name: str) -> Any:
    # NaN/Infinity are not JSON; storing them would hand the source a body it cannot parse.
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):  # 1e400 overflows; stored, it would come back as null or Infinity
        raise ValueError(f"{text[:20]} is out of range for a double")
    return value


def parse_body(raw: bytes) -> list[Any]:
    if not raw.strip():
        return []
    try:
        # The standard library, not orjson: orjson turns an integer beyond 64 bits into a float (digits lost).
        body = json.loads(raw.decode("utf-8-sig"), parse_constant=_reject_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EventError("invalid_json", "the body is not valid UTF-8 JSON") from exc
    if isinstance(body, dict):
        return [body]
    if isinstance(body, list):
        return body
    raise EventError("invalid_shape", "the body must be a JSON array of events or one event object")


def _canonical(value: Any) -> str:
    """Sorted-key compact JSON text: stored as the event's body and digested for the duplicate key."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:
        # A lone surrogate ("\ud800" is legal JSON text) or an integer beyond 64 bits: the standard library
        # writes both, the surrogate escaped so SQLite can store it as UTF-8.
        return json.dumps(value, ensure_ascii=True, sort_keys=True, separators=(",", ":"))


def _event_time(value: Any, received_at_ms: int) -> int:
    if value is None:
        # The workflow-rule fallback may omit it; the receive time is the best we know.
        return received_at_ms
    if isinstance(value, bool):
        raise ValueError("boolean")
    if isinstance(value, int):
        ms = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        ms = int(value)
    else:
        raise ValueError("not epoch milliseconds")
    if not 0 <= ms < 2**53:
        raise ValueError("out of range")
    return ms


def _entity_id(payload: Any) -> str | None:
    if isinstance(payload, dict):
        for key in _ID_KEYS:
            value = payload.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                # ASCII-escaped and capped: the id comes from the body and may hold lone surrogates,
                # which SQLite cannot store as UTF-8 text.
                return json.dumps(str(value), ensure_ascii=True)[1:-1][:200]
    return None


def normalise(raw: Any, org_id: str, received_at_ms: int, index: int = 0) -> Event:
    """Validate one raw event against its data source's org and turn it into an `Event`."""
    where = f"event {index}"
    if not isinstance(raw, dict):
        raise EventError("invalid_event", f"{where} is not a JSON object")
    event_type = raw.get("eventType")
    if not isinstance(event_type, str) or not event_type:
        raise EventError("missing_event_type", f"{where} has no eventType")
    if not _EVENT_TYPE.fullmatch(event_type):
        raise EventError("invalid_event_type", f"{where} has an eventType that is not a Zoho event name")
    if "payload" not in raw or raw["payload"] is None:
        raise EventError("missing_payload", f"{where} has no payload")
    payload = raw["payload"]
    if not isinstance(payload, dict | list):
        raise EventError("invalid_payload", f"{where} has a payload that is not an object or array")
    event_org = raw.get("orgId")
    if event_org is None:
        raise EventError("missing_org", f"{where} has no orgId")
    if isinstance(event_org, bool) or not isinstance(event_org, str | int) or str(event_org) != org_id:
        raise EventError("wrong_org", f"{where} belongs to another orgId than this data source")
    try:
        event_time_ms = _event_time(raw.get("eventTime"), received_at_ms)
    except ValueError as exc:
        raise EventError("invalid_event_time", f"{where} has an eventTime that is not epoch ms") from exc
    prev_state = raw.get("prevState")
    if prev_state is not None and not isinstance(prev_state, dict | list):
        raise EventError("invalid_prev_state", f"{where} has a prevState that is not an object")

    payload_json = _canonical(payload)
    prev_state_json = None if prev_state is None else _canonical(prev_state)
    entity_id = _entity_id(payload)
    # A Zoho retry repeats the event byte for byte, so type + entity + time + content identifies it;
    # two different changes to one entity in the same millisecond differ in content and are both kept.
    # The key leads with the event time: events arrive in about time order, so new keys land at the end of
    # the queue's key index instead of on a random page each (random pages made the index most of the
    # disk writes per stored event). 128 bits of digest are ample among events of one millisecond.
    digest = hashlib.sha256()
    for part in (event_type, entity_id or "", str(event_time_ms), payload_json, prev_state_json or ""):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return Event(
        event_type=event_type,
        partition=partition_for(event_type),
        event_time_ms=event_time_ms,
        org_id=org_id,
        payload_json=payload_json,
        prev_state_json=prev_state_json,
        entity_id=entity_id,
        dedupe_key=f"{event_time_ms:016d}:{digest.hexdigest()[:32]}",
    )


def normalise_batch(items: list[Any], org_id: str, received_at_ms: int) -> list[Event]:
    """All-or-nothing: one bad event rejects the whole batch before anything is stored."""
    return [normalise(item, org_id, received_at_ms, i) for i, item in enumerate(items)]
