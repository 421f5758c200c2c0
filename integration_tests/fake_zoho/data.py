"""The fake's records: generated base rows plus an overlay of mutations; paging, search and change events."""

from __future__ import annotations

import bisect
import heapq
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from integration_tests.fake_zoho.facts import Facts, QueryError
from integration_tests.fake_zoho.records import (
    CHILD_SLOTS,
    STREAMS,
    Record,
    RecordFactory,
    StreamSpec,
    created_ms,
    deep_copy,
    iso,
    make_id,
    merged_schema,
    mix,
    modified_ms,
    parse_id,
    parse_iso,
)

# Events Zoho has for each change kind (Webhook.json); e.g. there is no Department_Delete.
EVENT_KINDS = {"create": "Add", "update": "Update", "delete": "Delete"}


@dataclass
class Change:
    """The last change of one record, enough to build the webhook event Zoho would send."""

    kind: str  # create | update | delete
    at_ms: int
    record: Record
    prev: Record | None


class Dataset:
    """All records of one fake org. Base records are computed on demand; only changes take memory."""

    def __init__(self, facts: Facts, seed: int, sizes: dict[str, int], children_max: dict[str, int],
                 now_ms: Callable[[], int]) -> None:
        self.facts = facts
        self.seed = seed
        self.sizes = sizes
        self.children_max = children_max
        self.now_ms = now_ms
        self.lock = threading.RLock()
        self.factories = {
            name: RecordFactory(spec, merged_schema(facts, spec), seed, sizes) for name, spec in STREAMS.items()
        }
        self.overlay: dict[str, dict[int, Record]] = {name: {} for name in STREAMS}
        self.deleted: dict[str, list[int]] = {name: [] for name in STREAMS}  # sorted indices
        self.created: dict[str, int] = {name: 0 for name in STREAMS}  # top-level streams
        self.extra_children: dict[str, dict[int, int]] = {name: {} for name in STREAMS}
        # Records whose departmentId no longer follows the index rule force the slow (scanning) path.
        self.moved: dict[str, set[int]] = {name: set() for name in STREAMS}
        self.changes: dict[tuple[str, str], Change] = {}
        self.search_index_delay_ms = 0

    # ---- identity -------------------------------------------------------------------------------
    def spec(self, stream: str) -> StreamSpec:
        if stream not in STREAMS:
            raise KeyError(f"unknown stream {stream!r}; known: {sorted(STREAMS)}")
        return STREAMS[stream]

    def index_of(self, stream: str, record_id: str) -> int | None:
        """Index of a live record by id, or None (unknown, malformed or deleted)."""
        index = parse_id(str(record_id), self.seed, self.spec(stream).code)
        if index is None or not self._exists(stream, index):
            return None
        return index

    def _exists(self, stream: str, index: int) -> bool:
        spec = self.spec(stream)
        deleted = self.deleted[stream]
        pos = bisect.bisect_left(deleted, index)
        if pos < len(deleted) and deleted[pos] == index:
            return False
        if spec.parent is None:
            return index < self.total(stream)
        parent = index // CHILD_SLOTS
        return self._exists(spec.parent, parent) and index % CHILD_SLOTS < self.child_count(stream, parent)

    def total(self, stream: str) -> int:
        """Top-level streams: base size plus created records (deleted ones included)."""
        return self.sizes.get(stream, 0) + self.created[stream]

    def child_count(self, stream: str, parent: int) -> int:
        base = mix(self.seed, self.spec(stream).code, parent) % (self.children_max.get(stream, 0) + 1)
        return base + self.extra_children[stream].get(parent, 0)

    def record(self, stream: str, index: int) -> Record:
        """The full current record (overlay first); callers must not mutate it."""
        found = self.overlay[stream].get(index)
        return found if found is not None else self.factories[stream].build(index)

    def department_index(self, stream: str, index: int) -> int:
        count = self.sizes.get("departments", 0) or 1
        return index % count

    # ---- lists ----------------------------------------------------------------------------------
    def page(self, stream: str, offset: int, limit: int, department: str | None = None) -> list[Record]:
        """Records offset..offset+limit of a top-level list in creation order, trashed ones skipped."""
        with self.lock:
            return [self.record(stream, i) for i in self._page_indices(stream, offset, limit, department)]

    def _page_indices(self, stream: str, offset: int, limit: int, department: str | None) -> list[int]:
        total = self.total(stream)
        deleted = self.deleted[stream]
        if department is None:
            return _kth(offset, limit, total, deleted, lambda j: j)
        dept = parse_id(department, self.seed, STREAMS["departments"].code)
        ndept = self.sizes.get("departments", 0)
        if dept is None or dept >= ndept:
            return []
        if not self.spec(stream).by_department or not self.moved[stream]:
            # Fast path: records of department d are exactly the indices d, d+n, d+2n, ...
            size = (total - dept + ndept - 1) // ndept if dept < total else 0
            excluded = [(i - dept) // ndept for i in deleted if i % ndept == dept]
            return _kth(offset, limit, size, excluded, lambda j: dept + j * ndept)
        dept_id = department
        matches = (
            i for i in range(total)
            if self._exists(stream, i) and self.record(stream, i).get("departmentId") == dept_id
        )
        out = []
        for n, i in enumerate(matches):
            if n >= offset + limit:
                break
            if n >= offset:
                out.append(i)
        return out

    def children(self, stream: str, parent_index: int) -> list[Record]:
        """Every live child record of one ticket, oldest first."""
        with self.lock:
            count = self.child_count(stream, parent_index)
            out = []
            deleted = set(self.deleted[stream])
            for c in range(count):
                index = parent_index * CHILD_SLOTS + c
                if index not in deleted:
                    out.append(self.record(stream, index))
            return out

    # ---- search ---------------------------------------------------------------------------------
    def search(self, stream: str, params: dict[str, str], offset: int, limit: int) -> tuple[list[Record], int]:
        """Zoho's /<module>/search: time windows, sortBy, departmentId; returns (page, total count)."""
        modified = _range(params, "modifiedTimeRange")
        created = _range(params, "createdTimeRange")
        sort = params.get("sortBy") or "createdTime"
        desc = sort.startswith("-")
        key_name = sort.lstrip("-")
        if key_name not in ("modifiedTime", "createdTime"):
            key_name = "createdTime"  # relevance and other keys: creation order is as good as any
        department = params.get("departmentId")
        with self.lock:
            base_size = self.sizes.get(stream, 0)
            lo, hi = 0, base_size
            # Both base time functions grow with the index, so a window is an index interval.
            if modified:
                lo = max(lo, _first_at_least(modified[0], base_size, modified_ms))
                hi = min(hi, _first_at_least(modified[1] + 1, base_size, modified_ms))
            if created:
                lo = max(lo, _first_at_least(created[0], base_size, created_ms))
                hi = min(hi, _first_at_least(created[1] + 1, base_size, created_ms))
            skip = set(self.deleted[stream]) | set(self.overlay[stream])
            ndept = self.sizes.get("departments", 0) or 1
            dept = parse_id(department, self.seed, STREAMS["departments"].code) if department else None

            def base_ok(i: int) -> bool:
                return i not in skip and (department is None or i % ndept == dept)

            def in_window(rec: Record) -> bool:
                for window, field in ((modified, "modifiedTime"), (created, "createdTime")):
                    if window and not window[0] <= _ms(rec.get(field)) <= window[1]:
                        return False
                return department is None or rec.get("departmentId") == department

            changed = [
                (_ms(rec.get(key_name)), i, rec)
                for i, rec in self._indexed_changes(stream).items()
                if rec is not None and in_window(rec)
            ]
            changed.sort(key=lambda t: (t[0], t[1]), reverse=desc)
            key_fn = modified_ms if key_name == "modifiedTime" else created_ms
            order = range(hi - 1, lo - 1, -1) if desc else range(lo, hi)
            base = ((key_fn(i), i, None) for i in order if base_ok(i))
            merged: Iterator[tuple[int, int, Record | None]] = heapq.merge(
                base, changed, key=lambda t: (t[0], t[1]), reverse=desc
            )
            page = []
            for n, (_, i, rec) in enumerate(merged):
                if n >= offset + limit:
                    break
                if n >= offset:
                    page.append(rec if rec is not None else self.record(stream, i))
            if department is None:
                in_range_skipped = sum(1 for i in skip if lo <= i < hi)
                count = (hi - lo) - in_range_skipped + len(changed)
            else:
                count = sum(1 for i in range(lo, hi) if base_ok(i)) + len(changed)
            return page, count

    def _indexed_changes(self, stream: str) -> dict[int, Record | None]:
        """What the search index holds for every changed record (None: not findable).

        Zoho indexes changes with a delay (notes section 4); with search_index_delay_ms set, a change
        younger than that is not visible yet and search still serves the record's previous state.
        """
        code = self.spec(stream).code
        now = self.now_ms()
        deleted = set(self.deleted[stream])
        view: dict[int, Record | None] = {}
        for i in deleted | set(self.overlay[stream]):
            change = self.changes.get((stream, make_id(self.seed, code, i)))
            if self.search_index_delay_ms and change is not None and change.at_ms > now - self.search_index_delay_ms:
                view[i] = change.prev
            else:
                view[i] = None if i in deleted else self.overlay[stream][i]
        return view

    # ---- mutations ------------------------------------------------------------------------------
    def create(self, stream: str, fields: dict[str, Any], parent_id: str | None = None) -> Record:
        """Add a record (index after every existing one); createdTime and modifiedTime are now."""
        spec = self.spec(stream)
        with self.lock:
            if spec.parent:
                parent_id = parent_id or fields.get("ticketId")
                if parent_id is None:
                    raise ValueError(f"{stream} records need a ticketId")
                parent = self.index_of(spec.parent, str(parent_id))
                if parent is None:
                    raise KeyError(f"no live ticket {parent_id}")
                position = self.child_count(stream, parent)
                if position >= CHILD_SLOTS:
                    raise ValueError(f"at most {CHILD_SLOTS} {stream} per ticket")
                index = parent * CHILD_SLOTS + position
                self.extra_children[stream][parent] = self.extra_children[stream].get(parent, 0) + 1
            else:
                index = self.total(stream)
                self.created[stream] += 1
            rec = deep_copy(self.factories[stream].build(index))
            now = iso(self.now_ms())
            for name in ("createdTime", "modifiedTime", "commentedTime"):
                if name in rec:
                    rec[name] = now
            rec.update(fields)
            self._store(stream, index, rec)
            self.changes[(stream, rec["id"])] = Change("create", self.now_ms(), rec, None)
            return rec

    def update(self, stream: str, record_id: str, fields: dict[str, Any]) -> Record:
        """Change fields of a live record and bump its modifiedTime to now (as any edit in Zoho does)."""
        with self.lock:
            index = self._require(stream, record_id)
            prev = deep_copy(self.record(stream, index))
            rec = deep_copy(prev)
            rec.update(fields)
            rec["modifiedTime"] = iso(self.now_ms())
            self._store(stream, index, rec)
            self.changes[(stream, rec["id"])] = Change("update", self.now_ms(), rec, prev)
            return rec

    def delete(self, stream: str, record_id: str) -> Record:
        """Move a record to the recycle bin: it vanishes from lists, search and get-by-id."""
        with self.lock:
            index = self._require(stream, record_id)
            prev = deep_copy(self.record(stream, index))
            bisect.insort(self.deleted[stream], index)
            self.changes[(stream, prev["id"])] = Change("delete", self.now_ms(), {"id": prev["id"]}, prev)
            return prev

    def _require(self, stream: str, record_id: str) -> int:
        index = self.index_of(stream, str(record_id))
        if index is None:
            raise KeyError(f"no live {stream} record {record_id}")
        return index

    def _store(self, stream: str, index: int, rec: Record) -> None:
        self.overlay[stream][index] = rec
        spec = self.spec(stream)
        if spec.by_department and "departmentId" in rec:
            rule = make_id(self.seed, STREAMS["departments"].code, self.department_index(stream, index))
            if rec["departmentId"] != rule:
                self.moved[stream].add(index)
            else:
                self.moved[stream].discard(index)

    def last_change(self, stream: str, record_id: str) -> Change:
        try:
            return self.changes[(stream, str(record_id))]
        except KeyError:
            raise KeyError(f"no change recorded for {stream} {record_id}") from None


def _kth(offset: int, limit: int, size: int, excluded: list[int], to_index: Callable[[int], int]) -> list[int]:
    """Positions offset.. of the sequence 0..size-1 without `excluded` (sorted), mapped to indices."""
    j = offset
    for e in excluded:
        if e <= j:
            j += 1
        else:
            break
    skip = set(excluded)
    out = []
    while j < size and len(out) < limit:
        if j not in skip:
            out.append(to_index(j))
        j += 1
    return out


def _first_at_least(target: int, size: int, fn: Callable[[int], int]) -> int:
    return bisect.bisect_left(range(size), target, key=fn)


def _ms(value: Any) -> int:
    if value is None:
        return -1
    if isinstance(value, int):
        return value
    return parse_iso(str(value))


def _range(params: dict[str, str], name: str) -> tuple[int, int] | None:
    raw = params.get(name)
    if raw is None:
        return None
    parts = raw.split(",")
    try:
        if len(parts) != 2:
            raise ValueError(raw)
        low, high = parse_iso(parts[0]), parse_iso(parts[1])
    except ValueError:
        raise QueryError(f"The value passed for the '{name}' query parameter is invalid.") from None
    if low > high:
        raise QueryError(f"The value passed for the '{name}' query parameter is invalid.")
    return low, high
