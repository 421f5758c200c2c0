"""Incremental sync: drain the webhook queue (ack-on-commit), poll Zoho's search API, emit deletes as tombstones.

State per stream: `{"seq": <last drained queue sequence>, "modifiedTime": <polling cursor>, "deleted": {id: ms}}`.
At the start of a sync the INCOMING state's `seq` is acknowledged to the collector (Airbyte only passes back
state the destination committed); the events drained in this sync are acknowledged by the next one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import requests
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.sources.streams import IncrementalMixin
from airbyte_cdk.sources.streams.checkpoint import ResumableFullRefreshCursor
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_zoho_desk.queue_client import (
    CollectorAuthError,
    CollectorError,
    CollectorProtocolError,
    CollectorUnavailable,
    QueuedEvent,
)
from source_zoho_desk.records import iso_from_epoch_ms, normalise_time
from source_zoho_desk.streams.base import ZohoDeskStream

DELETED_AT = "_ab_cdc_deleted_at"
UPDATED_AT = "_ab_cdc_updated_at"
# Zoho's search answers `from` 0–999 (the prose docs say 4999; design for the lower): 1,000 rows per window.
SEARCH_ROWS_CEILING = 1000
SEARCH_PAGE = 100
# Remembered deletes keep an older, late event from resurrecting a row; bounded so state stays small.
TOMBSTONE_MEMORY = timedelta(days=30)
TOMBSTONE_LIMIT = 10_000
DRAIN_PAGE = 1000
# Changes buffered (latest per id) before they are emitted: bounds a sync's memory whatever the backlog.
CHANGE_BUFFER = 5000
MIN_SEARCH_WINDOW = timedelta(milliseconds=2)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def epoch_ms(value: Any) -> int | None:
    """Milliseconds since the epoch of an ISO string or epoch number; None when it is neither."""
    normalised = normalise_time(value)
    if not isinstance(normalised, str):
        return None
    try:
        return int(parse_iso(normalised).timestamp() * 1000)
    except ValueError:
        return None


def collector_failure(exc: CollectorError) -> AirbyteTracedException:
    """The collector's errors as Airbyte failures: settings to fix, or a collector to bring back."""
    if isinstance(exc, (CollectorAuthError, CollectorProtocolError)):
        return AirbyteTracedException(message=str(exc), failure_type=FailureType.config_error)
    assert isinstance(exc, CollectorUnavailable)
    return AirbyteTracedException(
        message=f"The webhook collector is unavailable ({exc}); nothing was acknowledged, the next sync retries.",
        failure_type=FailureType.transient_error,
    )


class SearchWindowOverflow(Exception):
    """A modifiedTime window matches more rows than Zoho's search can page through; split it."""


_TRUE = (True, "true")


def is_deleted(event_type: str, payload: Mapping[str, Any]) -> bool:
    if event_type.endswith("_Delete") or event_type.endswith("_Trashed"):
        return True
    # Once per drained event: plain lookups rather than a generator over the flag names.
    get = payload.get
    return get("isDeleted") in _TRUE or get("isTrashed") in _TRUE or get("IsDel") in _TRUE


@dataclass
class Drained:
    """How far a drain got: the state's next `seq`."""

    last_seq: int


@dataclass
class Change:
    """The newest thing known about one record in this sync."""

    record: MutableMapping[str, Any]
    changed_ms: int
    deleted: bool


class ChangeSet:
    """Latest change per id across the webhook drain and the polling pass (by change time, then arrival).

    Memory stays bounded: payloads are buffered only up to `capacity` and then emitted; what is kept for the
    whole sync is an index of id → newest change time, so an older change of an id is never emitted after a
    newer one, and no change older than a delete resurrects the row.
    """

    def __init__(self, tombstones: Mapping[str, int], capacity: int = CHANGE_BUFFER) -> None:
        self._pending: dict[str, Change] = {}
        self._newest: dict[str, int] = {}
        self._tombstones = dict(tombstones)
        self._capacity = capacity

    def offer(self, record_id: str, change: Change) -> None:
        """Take one change (flush when `full`). Not a generator: this runs once per drained event."""
        deleted_at = self._tombstones.get(record_id)
        if deleted_at is not None and not change.deleted and change.changed_ms <= deleted_at:
            return  # an older event must never resurrect a deleted row
        if change.changed_ms < self._newest.get(record_id, -1):
            return
        self._newest[record_id] = change.changed_ms
        self._pending[record_id] = change
        if change.deleted:
            self._tombstones[record_id] = max(change.changed_ms, deleted_at or 0)

    @property
    def full(self) -> bool:
        return len(self._pending) >= self._capacity

    def flush(self) -> Iterator[MutableMapping[str, Any]]:
        pending, self._pending = self._pending, {}
        for change in pending.values():
            yield change.record

    def tombstones(self, now_ms: int) -> dict[str, int]:
        horizon = now_ms - int(TOMBSTONE_MEMORY.total_seconds() * 1000)
        kept = sorted(((ms, i) for i, ms in self._tombstones.items() if ms >= horizon), reverse=True)
        return {record_id: ms for ms, record_id in kept[:TOMBSTONE_LIMIT]}


class ModifiedSearch(ZohoDeskStream):
    """`/<module>/search?modifiedTimeRange=a,b&sortBy=modifiedTime`, one window per slice."""

    skip_forbidden = False
    max_offset = SEARCH_ROWS_CEILING - SEARCH_PAGE

    def __init__(self, parent: ZohoDeskStream, search_path: str) -> None:
        self.name = parent.name
        self.path_template = search_path
        self.scope = f"{parent.scope} and Desk.search.READ"
        self._parent = parent
        super().__init__(parent.context)

    def get_json_schema(self) -> Mapping[str, Any]:
        return self._parent.get_json_schema()

    def slice_params(self, stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"modifiedTimeRange": f"{stream_slice['start']},{stream_slice['end']}", "sortBy": "modifiedTime"}

    @property
    def page_size(self) -> int:
        return SEARCH_PAGE

    def parse_response(self, response: requests.Response, **kwargs: Any) -> Iterable[Mapping[str, Any]]:
        if response.ok and response.status_code != 204:
            count = response.json().get("count") if response.content else None
            if isinstance(count, int) and count > SEARCH_ROWS_CEILING:
                raise SearchWindowOverflow()
        yield from super().parse_response(response, **kwargs)

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        token = super().next_page_token(response)
        if token and token["from"] + SEARCH_PAGE > SEARCH_ROWS_CEILING:
            raise SearchWindowOverflow()
        return token

    def changed(self, start: datetime, end: datetime) -> Iterator[Mapping[str, Any]]:
        """Every record modified in [start, end], halving windows that overflow the offset ceiling."""
        try:
            yield from self.read_all({"start": iso(start), "end": iso(end)})
        except SearchWindowOverflow:
            if end - start <= MIN_SEARCH_WINDOW:
                raise  # more changes in one millisecond than search can page through
            middle = start + (end - start) / 2
            yield from self.changed(start, middle)
            yield from self.changed(middle, end)


class IncrementalZohoStream(ZohoDeskStream, IncrementalMixin):
    """A table whose changes arrive through webhooks and/or Zoho's search API.

    Full refresh keeps the CDK's per-page resumable checkpoints; incremental runs the drain/poll flow.
    """

    webhook_partition: ClassVar[str | None] = None
    search_path: ClassVar[str | None] = None
    cursor_name: ClassVar[str] = "modifiedTime"
    # Streams read in several slices (per department, per ticket) restart a failed full refresh from the top.
    has_multiple_slices_in_full_refresh: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._sync_mode: SyncMode | None = None
        super().__init__(*args, **kwargs)
        self._state: MutableMapping[str, Any] = {}
        if not self.has_multiple_slices_in_full_refresh:
            self.cursor = ResumableFullRefreshCursor()

    # --- what Airbyte sees -------------------------------------------------------------------------
    @property
    def tracks_changes(self) -> bool:
        settings = self.context.config.incremental
        return bool(
            (self.webhook_partition and settings.uses_webhooks) or (self.search_path and settings.uses_polling)
        )

    @property
    def cursor_field(self) -> str | list[str]:
        if not self.tracks_changes or self._sync_mode == SyncMode.full_refresh:
            return []
        return self.cursor_name

    @property
    def source_defined_cursor(self) -> bool:
        return True

    def build_json_schema(self) -> dict[str, Any]:
        schema = super().build_json_schema()
        if not self.tracks_changes:
            signals = [
                "webhook events (incremental.mode webhook or webhook_and_polling)" if self.webhook_partition else "",
                "Zoho's search API (incremental.mode polling or webhook_and_polling)" if self.search_path else "",
            ]
            schema["description"] = (
                f"Full refresh only with incremental.mode={self.context.config.incremental.mode}: changes to "
                f"{self.name} are signalled only through " + " or ".join(s for s in signals if s) + "."
            )
        else:
            schema.pop("description", None)
            properties = dict(schema.get("properties", {}))
            properties[DELETED_AT] = {"type": ["null", "string"], "format": "date-time"}
            properties[UPDATED_AT] = {"type": ["null", "string"], "format": "date-time"}
            schema["properties"] = properties
        return schema

    def get_cursor(self) -> Any:
        if self._sync_mode == SyncMode.incremental:
            return None
        return super().get_cursor()

    @property
    def state(self) -> MutableMapping[str, Any]:
        if self._sync_mode == SyncMode.incremental:
            return self._state
        return super().state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        # Airbyte sets the incoming state before read() reveals the sync mode: keep it for both readers.
        self._state = dict(value or {})
        if self._sync_mode != SyncMode.incremental:
            HttpStream.state.fset(self, value)  # type: ignore[attr-defined]

    def read(self, configured_stream: Any, *args: Any, **kwargs: Any) -> Iterable[Any]:
        # The sync mode decides whether this stream checkpoints pages (full refresh) or change feeds.
        self._sync_mode = configured_stream.sync_mode
        yield from super().read(configured_stream, *args, **kwargs)

    def stream_slices(self, sync_mode: SyncMode = SyncMode.full_refresh, **kwargs: Any) -> Iterable[Any]:
        if sync_mode == SyncMode.incremental:
            return [{}]
        return self.full_refresh_slices(**kwargs)

    def full_refresh_slices(self, **kwargs: Any) -> Iterable[Any]:
        return [None]

    @property
    def is_resumable(self) -> bool:
        return not self.has_multiple_slices_in_full_refresh or self.supports_incremental

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        if sync_mode == SyncMode.full_refresh:
            yield from self.read_full_refresh(cursor_field, stream_slice, stream_state)
            return
        yield from self.read_changes()

    def read_full_refresh(
        self,
        cursor_field: list[str] | None,
        stream_slice: Mapping[str, Any] | None,
        stream_state: Mapping[str, Any] | None,
    ) -> Iterable[Mapping[str, Any]]:
        """One page per call (the CDK checkpoints after each), or a whole slice for multi-slice streams."""
        return HttpStream.read_records(self, SyncMode.full_refresh, cursor_field, stream_slice, stream_state)

    # --- the change flow ---------------------------------------------------------------------------
    def read_changes(self) -> Iterator[Mapping[str, Any]]:
        try:
            yield from self._read_changes()
        except CollectorError as exc:
            raise collector_failure(exc) from exc

    def _read_changes(self) -> Iterator[Mapping[str, Any]]:
        settings = self.context.config.incremental
        incoming = dict(self._state)
        now = self.context.sync_started_at
        queue = self.context.queue if (self.webhook_partition and settings.uses_webhooks) else None
        polling = bool(self.search_path and settings.uses_polling)
        new_state: dict[str, Any] = {}
        changes = ChangeSet(incoming.get("deleted", {}))

        if queue is not None:
            if "seq" in incoming:
                queue.acknowledge(self.webhook_partition, int(incoming["seq"]))
                drained = Drained(int(incoming["seq"]))
                yield from self._drain(queue, drained, changes)
                new_state["seq"] = drained.last_seq
            else:
                # Taken BEFORE the snapshot or gap poll: anything that happens meanwhile is drained next time.
                new_state["seq"] = queue.head(self.webhook_partition)

        cursor = incoming.get(self.cursor_name)
        if cursor and (polling or "seq" not in incoming):
            start = parse_iso(cursor) - timedelta(minutes=settings.polling_lookback_minutes)
            yield from self._poll(start, now, changes)
        elif "seq" not in incoming and not cursor:
            yield from self._snapshot(now, changes)
        if polling or cursor:
            new_state[self.cursor_name] = iso(now)

        yield from changes.flush()
        tombstones = changes.tombstones(int(now.timestamp() * 1000))
        if tombstones:
            new_state["deleted"] = tombstones
        self._state = new_state

    def _drain(self, queue: Any, drained: Drained, changes: ChangeSet) -> Iterator[Mapping[str, Any]]:
        for event in queue.iter_events(self.webhook_partition, drained.last_seq, page_size=DRAIN_PAGE):
            drained.last_seq = max(drained.last_seq, event.seq)
            change = self._event_change(event)
            if change is not None:
                changes.offer(change.record["id"], change)
                if changes.full:
                    yield from changes.flush()

    def _event_change(self, event: QueuedEvent) -> Change | None:
        payload = event.payload if isinstance(event.payload, Mapping) else {}
        record_id = payload.get("id")
        if record_id is None:
            self.logger.warning(f"Ignoring {event.event_type} event #{event.seq} without a payload id.")
            return None
        deleted = is_deleted(event.event_type, payload)
        record = dict(payload)
        record["id"] = str(record_id)
        record = self.transform_change(record)  # shaped in place: no second copy of every drained payload
        if deleted:
            record[DELETED_AT] = iso_from_epoch_ms(event.event_time_ms)
            record.setdefault(self.cursor_name, record[DELETED_AT])
        else:
            record[DELETED_AT] = None
        changed_ms = max(epoch_ms(record.get(self.cursor_name)) or 0, event.event_time_ms)
        record[UPDATED_AT] = iso_from_epoch_ms(changed_ms)
        return Change(record, changed_ms, deleted)

    def transform_change(self, record: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """A webhook payload or a search hit, shaped like a list record of this stream."""
        return self.transform(record, {})

    def _offer_record(self, record: Mapping[str, Any], changes: ChangeSet) -> Iterator[Mapping[str, Any]]:
        record = self._stamped(record)
        changes.offer(str(record["id"]), Change(record, epoch_ms(record[UPDATED_AT]) or 0, False))
        if changes.full:
            yield from changes.flush()

    def _stamped(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A listed or searched record with the change columns every incremental record carries."""
        stamped = dict(record)
        stamped[DELETED_AT] = None
        changed = stamped.get(self.cursor_name) if self.cursor_name != UPDATED_AT else None
        stamped[UPDATED_AT] = changed or iso(self.context.sync_started_at)
        return stamped

    def _poll(self, start: datetime, end: datetime, changes: ChangeSet) -> Iterator[Mapping[str, Any]]:
        try:
            for record in self.changed_records(start, end):
                yield from self._offer_record(record, changes)
        except SearchWindowOverflow:
            # Search cannot page past 1,000 rows and the changes cannot be told apart by time: list the whole
            # table instead of silently missing some.
            self.logger.warning(
                f"Stream {self.name}: more records changed within one millisecond than Zoho's search can list; "
                "reading the whole table instead."
            )
            for record in self.snapshot_records():
                yield from self._offer_record(record, changes)

    def changed_records(self, start: datetime, end: datetime) -> Iterator[Mapping[str, Any]]:
        assert self.search_path is not None
        yield from ModifiedSearch(self, self.search_path).changed(start, end)

    def _snapshot(self, now: datetime, changes: ChangeSet) -> Iterator[Mapping[str, Any]]:
        """First sync: every current record, streamed (a snapshot is never held in memory)."""
        start = self.context.config.start_date
        if start is not None and self.search_path:
            yield from self._poll(start, now, changes)
            return
        for record in self.snapshot_records():
            yield self._stamped(record)

    def snapshot_records(self) -> Iterable[Mapping[str, Any]]:
        for stream_slice in self.full_refresh_slices():
            yield from self.read_all(stream_slice)
