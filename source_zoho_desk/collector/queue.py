"""The durable event queue: the `EventQueue` interface and its default SQLite implementation."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import anyio.to_thread

from source_zoho_desk.collector.events import Event

log = logging.getLogger("source_zoho_desk.collector.queue")
_T = TypeVar("_T")


@dataclass(frozen=True)
class StoredEvent:
    """An event as the drain API hands it out."""

    seq: int
    event_type: str
    event_time_ms: int
    org_id: str
    payload_json: str
    prev_state_json: str | None
    received_at_ms: int


@dataclass(frozen=True)
class AppendResult:
    stored: int
    duplicates: int
    # partition -> how many new events landed there (for the per-partition metric)
    by_partition: dict[str, int]


@dataclass(frozen=True)
class PartitionStats:
    source_id: str
    partition: str
    depth: int
    oldest_received_at_ms: int | None
    head_seq: int


class AckBeyondHead(ValueError):
    """An acknowledgement for a sequence number the queue has never handed out."""


class QueueUnavailable(RuntimeError):
    """The storage failed (disk full, I/O error); the caller must not answer 200."""


@runtime_checkable
class EventQueue(Protocol):
    """What the app needs from storage. A networked backend (PostgreSQL for several replicas) implements
    the same coroutines; sequence numbers must be strictly increasing per (source, partition) and an
    `append` must only return once the events are durable."""

    async def start(self) -> None: ...

    async def append(self, source_id: str, events: Sequence[Event], received_at_ms: int) -> AppendResult: ...

    async def read(self, source_id: str, partition: str, after_seq: int, limit: int) -> list[StoredEvent]: ...

    async def head(self, source_id: str, partition: str) -> int: ...

    async def acknowledge(self, source_id: str, partition: str, upto_seq: int) -> int: ...

    async def stats(self) -> list[PartitionStats]: ...

    async def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    -- AUTOINCREMENT: a deleted (acknowledged) top seq is never handed out again, so seqs only grow.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id TEXT NOT NULL,
    partition TEXT NOT NULL,
    event_type TEXT NOT NULL,
    event_time_ms INTEGER NOT NULL,
    org_id TEXT NOT NULL,
    entity_id TEXT,
    payload TEXT NOT NULL,
    prev_state TEXT,
    received_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_drain ON events (source_id, partition, seq);
-- Duplicate keys outlive the events (acknowledged rows are deleted) so a late Zoho retry of an
-- acknowledged event is still recognised; pruned after the retention window.
CREATE TABLE IF NOT EXISTS seen (
    source_id TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    PRIMARY KEY (source_id, dedupe_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_age ON seen (received_at_ms);
CREATE TABLE IF NOT EXISTS acks (
    source_id TEXT NOT NULL,
    partition TEXT NOT NULL,
    acked_seq INTEGER NOT NULL,
    PRIMARY KEY (source_id, partition)
) WITHOUT ROWID;
"""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL in WAL mode syncs the log on every commit: a 200 means the event survives a power cut too.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


@dataclass
class _Job:
    kind: str
    args: tuple[Any, ...]
    future: asyncio.Future[Any]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the request was cancelled (client went away); the write still happened
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _settle_group(group: list[_Job], outcomes: list[tuple[Any, BaseException | None]]) -> None:
    for job, (result, error) in zip(group, outcomes, strict=True):
        _settle(job.future, result, error)


class SQLiteEventQueue:
    """SQLite in WAL mode with group commit: every write waiting at the same time goes into one transaction
    and one fsync, which keeps latency flat under concurrent posts.

    One flusher task on the event loop owns the write connection. It runs a group's statements inline, which
    is CPU work that needs the GIL anyway, and only the COMMIT (the fsync) in a worker thread. A writer thread
    of its own spent most of a group waiting to win the GIL back from the busy event loop after every
    statement. Groups too big to stage without holding up the loop go to a worker thread whole.
    """

    max_group = 512
    # above this many events, a group is staged off the event loop
    inline_events = 256
    prune_every_s = 60.0
    prune_batch = 5000
    purge_batch = 2000

    def __init__(self, path: Path, dedupe_retention_s: float = 7 * 86400) -> None:
        self.path = Path(path)
        self.dedupe_retention_ms = int(dedupe_retention_s * 1000)
        self._pending: list[_Job] = []
        self._io: concurrent.futures.ThreadPoolExecutor | None = None
        self._wake: asyncio.Event | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._stopping = False
        self._purge_due = False
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._last_prune = 0.0

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._flusher is not None:
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the queue holds customer data
        conn = _connect(self.path)
        conn.executescript(_SCHEMA)
        self._stopping = False
        self._purge_due = True  # a restart may have left acknowledged rows behind
        self._wake = asyncio.Event()
        # One thread for the fsyncs and the pruning: cheaper per hop than anyio's pool, and never two at once.
        self._io = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="queue-io")
        self._flusher = asyncio.get_running_loop().create_task(self._flush_loop(conn), name="queue-flusher")

    async def close(self) -> None:
        if self._flusher is None:
            return
        self._stopping = True  # the flusher still writes every job already accepted: nothing is lost
        assert self._wake is not None
        self._wake.set()
        await asyncio.shield(self._flusher)
        self._flusher = None
        if self._io is not None:
            self._io.shutdown()
            self._io = None
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    # -- writes (one flusher task) ------------------------------------------------------------------------
    async def _submit(self, kind: str, *args: Any) -> Any:
        if self._flusher is None or self._flusher.done() or self._stopping or self._wake is None:
            raise QueueUnavailable("the queue writer is not running")
        loop = asyncio.get_running_loop()
        if loop is not self._flusher.get_loop():
            # The pending list and the wake-up event belong to the loop that started the queue.
            raise RuntimeError("SQLiteEventQueue is used from another event loop than the one that started it")
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append(_Job(kind, args, future))
        self._wake.set()
        return await future

    async def append(self, source_id: str, events: Sequence[Event], received_at_ms: int) -> AppendResult:
        return await self._submit("append", source_id, tuple(events), received_at_ms)

    async def acknowledge(self, source_id: str, partition: str, upto_seq: int) -> int:
        return await self._submit("ack", source_id, partition, upto_seq)

    async def prune(self) -> None:
        """Forget duplicate keys past the retention window now (the flusher also does it every minute)."""
        await self._submit("prune")

    async def _flush_loop(self, conn: sqlite3.Connection) -> None:
        assert self._wake is not None
        try:
            while True:
                if not self._pending and self._purge_due and not self._stopping:
                    # Acknowledged rows go in small transactions between groups: one DELETE of a whole sync's
                    # worth would hold the write lock, and every webhook's 200, for seconds.
                    self._purge_due = await self._off_loop(self._purge_batch, conn)
                    continue
                if not self._pending:
                    if self._stopping:
                        break
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=self.prune_every_s)
                    except TimeoutError:
                        await self._off_loop(self._prune, conn)
                        continue
                    # One turn of the loop lets every request that arrived with this one join its group.
                    await asyncio.sleep(0)
                group = self._pending[: self.max_group]
                del self._pending[: len(group)]
                _settle_group(group, await self._write_group(conn, group))
                if time.monotonic() - self._last_prune > self.prune_every_s:
                    await self._off_loop(self._prune, conn)
        finally:
            conn.close()
            # Whatever is left (the flusher was cancelled) fails: no 200, and nobody waits forever.
            late, self._pending = self._pending, []
            _settle_group(late, [(None, QueueUnavailable("the queue is closed"))] * len(late))

    async def _off_loop(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    async def _write_group(self, conn: sqlite3.Connection, group: list[_Job]) -> list[tuple[Any, BaseException | None]]:
        events = sum(len(job.args[1]) for job in group if job.kind == "append")
        # Acknowledging deletes up to a whole sync's worth of rows, and pruning a window's worth of keys.
        if events > self.inline_events or any(job.kind != "append" for job in group):
            return await self._off_loop(self._stage_and_commit, conn, group)
        try:
            outcomes = self._stage(conn, group)
        except Exception as exc:
            return self._failed(conn, group, exc)
        return await self._off_loop(self._commit, conn, group, outcomes)

    def _stage_and_commit(self, conn: sqlite3.Connection, group: list[_Job]) -> list[tuple[Any, BaseException | None]]:
        try:
            outcomes = self._stage(conn, group)
        except Exception as exc:
            return self._failed(conn, group, exc)
        return self._commit(conn, group, outcomes)

    def _commit(
        self, conn: sqlite3.Connection, group: list[_Job], outcomes: list[tuple[Any, BaseException | None]]
    ) -> list[tuple[Any, BaseException | None]]:
        # Only after COMMIT returned — the WAL is fsynced — may the requests answer 200.
        try:
            conn.execute("COMMIT")
        except Exception as exc:
            return self._failed(conn, group, exc)
        return outcomes

    def _failed(
        self, conn: sqlite3.Connection, group: list[_Job], exc: BaseException
    ) -> list[tuple[Any, BaseException | None]]:
        # Fail the group's requests (no 200); the flusher lives on.
        log.error("queue commit failed", extra={"error": str(exc)})
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        return [(None, QueueUnavailable(str(exc))) for _ in group]

    def _stage(self, conn: sqlite3.Connection, group: list[_Job]) -> list[tuple[Any, BaseException | None]]:
        """BEGIN and every statement of the group, without the COMMIT."""
        outcomes: list[tuple[Any, BaseException | None]] = []
        conn.execute("BEGIN IMMEDIATE")
        i = 0
        while i < len(group):
            # Consecutive appends are written with a handful of statements for the whole run.
            j = i
            while j < len(group) and group[j].kind == "append":
                j += 1
            if j - i > 1:
                conn.execute("SAVEPOINT run")
                try:
                    results = self._append_many(conn, [job.args for job in group[i:j]])
                    conn.execute("RELEASE run")
                    outcomes.extend((result, None) for result in results)
                    i = j
                    continue
                except Exception as exc:  # fall back to one savepoint per job, to isolate the culprit
                    log.warning("batched append failed, retrying job by job", extra={"error": repr(exc)[:300]})
                    conn.execute("ROLLBACK TO run")
                    conn.execute("RELEASE run")
            for job in group[i : max(j, i + 1)]:
                outcomes.append(self._run_job(conn, job))
            i = max(j, i + 1)
        return outcomes

    def _run_job(self, conn: sqlite3.Connection, job: _Job) -> tuple[Any, BaseException | None]:
        # A savepoint per job: one failing job must not take the others' writes with it.
        conn.execute("SAVEPOINT job")
        try:
            handler = {"append": self._append_tx, "ack": self._ack_tx, "prune": self._prune}[job.kind]
            result = handler(conn, *job.args)
            conn.execute("RELEASE job")
            return result, None
        except AckBeyondHead as exc:
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            return None, exc
        except Exception as exc:  # whatever one job does, the writer must live on
            log.error("queue write failed", extra={"error": repr(exc)[:300]})
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            return None, QueueUnavailable(repr(exc)[:300])

    def _append_many(
        self, conn: sqlite3.Connection, jobs: list[tuple[str, tuple[Event, ...], int]]
    ) -> list[AppendResult]:
        """Several appends at once: one look-up of known keys, two executemany, same results as one by one."""
        keys: dict[str, set[str]] = {}
        for source_id, events, _ in jobs:
            keys.setdefault(source_id, set()).update(ev.dedupe_key for ev in events)
        known: set[tuple[str, str]] = set()
        for source_id, wanted in keys.items():
            ordered = sorted(wanted)
            for at in range(0, len(ordered), 500):  # stay far below SQLite's bound-parameter limit
                chunk = ordered[at : at + 500]
                rows = conn.execute(
                    f"SELECT dedupe_key FROM seen WHERE source_id = ? AND dedupe_key IN ({','.join('?' * len(chunk))})",
                    (source_id, *chunk),
                )
                known.update((source_id, key) for (key,) in rows)
        event_rows: list[tuple[Any, ...]] = []
        seen_rows: list[tuple[str, str, int]] = []
        results: list[AppendResult] = []
        for source_id, events, received_at_ms in jobs:
            stored = duplicates = 0
            by_partition: dict[str, int] = {}
            for ev in events:
                if (source_id, ev.dedupe_key) in known:
                    duplicates += 1
                    continue
                known.add((source_id, ev.dedupe_key))
                event_rows.append((source_id, ev.partition, ev.event_type, ev.event_time_ms, ev.org_id,
                                   ev.entity_id, ev.payload_json, ev.prev_state_json, received_at_ms))
                seen_rows.append((source_id, ev.dedupe_key, received_at_ms))
                stored += 1
                by_partition[ev.partition] = by_partition.get(ev.partition, 0) + 1
            results.append(AppendResult(stored=stored, duplicates=duplicates, by_partition=by_partition))
        if event_rows:
            last_seq = "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)"
            (before,) = conn.execute(last_seq).fetchone()
            conn.executemany(
                "INSERT INTO events (source_id, partition, event_type, event_time_ms, org_id, entity_id,"
                " payload, prev_state, received_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                event_rows,
            )
            (after,) = conn.execute(last_seq).fetchone()
            # AUTOINCREMENT under a single writer hands out before+1 … before+n in insert order; check it
            # rather than trust it, since the seen rows below point at those seqs.
            if after != before + len(event_rows):
                raise RuntimeError(f"expected seqs {before + 1}..{before + len(event_rows)}, sequence is at {after}")
            conn.executemany(
                "INSERT INTO seen (source_id, dedupe_key, seq, received_at_ms) VALUES (?, ?, ?, ?)",
                [(s, k, before + 1 + n, r) for n, (s, k, r) in enumerate(seen_rows)],
            )
        return results

    def _append_tx(
        self, conn: sqlite3.Connection, source_id: str, events: tuple[Event, ...], received_at_ms: int
    ) -> AppendResult:
        stored = duplicates = 0
        by_partition: dict[str, int] = {}
        for ev in events:
            # Single writer, so check-then-insert cannot race. Covers Zoho retries and repeats in one batch.
            if conn.execute(
                "SELECT 1 FROM seen WHERE source_id = ? AND dedupe_key = ?", (source_id, ev.dedupe_key)
            ).fetchone():
                duplicates += 1
                continue
            cur = conn.execute(
                "INSERT INTO events (source_id, partition, event_type, event_time_ms, org_id, entity_id,"
                " payload, prev_state, received_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    source_id,
                    ev.partition,
                    ev.event_type,
                    ev.event_time_ms,
                    ev.org_id,
                    ev.entity_id,
                    ev.payload_json,
                    ev.prev_state_json,
                    received_at_ms,
                ),
            )
            conn.execute(
                "INSERT INTO seen (source_id, dedupe_key, seq, received_at_ms) VALUES (?, ?, ?, ?)",
                (source_id, ev.dedupe_key, cur.lastrowid, received_at_ms),
            )
            stored += 1
            by_partition[ev.partition] = by_partition.get(ev.partition, 0) + 1
        return AppendResult(stored=stored, duplicates=duplicates, by_partition=by_partition)

    def _ack_tx(self, conn: sqlite3.Connection, source_id: str, partition: str, upto_seq: int) -> int:
        """Record the acknowledgement; the rows go later (`_purge_batch`) and reads skip them until then."""
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        last = row[0] if row else 0
        if upto_seq > last:
            # Acknowledging a seq never handed out would make head() jump ahead of events still to come.
            raise AckBeyondHead(f"upto_seq {upto_seq} is beyond the last sequence number {last}")
        (released,) = conn.execute(
            "SELECT count(*) FROM events WHERE source_id = ? AND partition = ? AND seq <= ?"
            " AND seq > coalesce((SELECT acked_seq FROM acks WHERE source_id = ? AND partition = ?), 0)",
            (source_id, partition, upto_seq, source_id, partition),
        ).fetchone()
        conn.execute(
            "INSERT INTO acks (source_id, partition, acked_seq) VALUES (?, ?, ?)"
            " ON CONFLICT (source_id, partition) DO UPDATE SET acked_seq = max(acked_seq, excluded.acked_seq)",
            (source_id, partition, upto_seq),
        )
        self._purge_due = True
        return int(released)

    def _purge_batch(self, conn: sqlite3.Connection) -> bool:
        """Delete up to `purge_batch` acknowledged rows per partition in one transaction; True if more remain."""
        more = False
        try:
            conn.execute("BEGIN IMMEDIATE")
            acks = conn.execute("SELECT source_id, partition, acked_seq FROM acks").fetchall()
            for source_id, partition, acked in acks:
                deleted = conn.execute(
                    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE source_id = ? AND partition = ?"
                    " AND seq <= ? ORDER BY seq LIMIT ?)",
                    (source_id, partition, acked, self.purge_batch),
                ).rowcount
                more = more or deleted == self.purge_batch
            conn.execute("COMMIT")
        except sqlite3.Error as exc:  # the rows stay hidden from reads; try again after the next write
            log.warning("deleting acknowledged events failed", extra={"error": str(exc)})
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            return False
        return more

    def _prune(self, conn: sqlite3.Connection) -> None:
        self._last_prune = time.monotonic()
        cutoff = int(time.time() * 1000) - self.dedupe_retention_ms
        # Small batches, and stop as soon as requests are waiting: pruning must never delay a 200.
        while True:
            try:
                # Never forget the key of an event still queued: a retry of it must stay a duplicate.
                deleted = conn.execute(
                    "DELETE FROM seen WHERE (source_id, dedupe_key) IN (SELECT source_id, dedupe_key FROM seen"
                    " WHERE received_at_ms < ? AND NOT EXISTS (SELECT 1 FROM events WHERE events.seq = seen.seq)"
                    " LIMIT ?)",
                    (cutoff, self.prune_batch),
                ).rowcount
            except sqlite3.Error as exc:
                log.warning("pruning duplicate keys failed", extra={"error": str(exc)})
                return
            if deleted < self.prune_batch or self._pending:
                return

    # -- reads (any thread, WAL readers never block the writer) -------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _read_sync(self, source_id: str, partition: str, after_seq: int, limit: int) -> list[StoredEvent]:
        rows = self._reader().execute(
            "SELECT seq, event_type, event_time_ms, org_id, payload, prev_state, received_at_ms FROM events"
            " WHERE source_id = ? AND partition = ? AND seq > max(?, coalesce((SELECT acked_seq FROM acks"
            " WHERE source_id = ? AND partition = ?), 0)) ORDER BY seq LIMIT ?",
            (source_id, partition, after_seq, source_id, partition, limit),
        )
        return [StoredEvent(*row) for row in rows]

    def _head_sync(self, source_id: str, partition: str) -> int:
        conn = self._reader()
        (stored,) = conn.execute(
            "SELECT coalesce(max(seq), 0) FROM events WHERE source_id = ? AND partition = ?",
            (source_id, partition),
        ).fetchone()
        acked = conn.execute(
            "SELECT acked_seq FROM acks WHERE source_id = ? AND partition = ?", (source_id, partition)
        ).fetchone()
        return max(stored, acked[0] if acked else 0)

    def _stats_sync(self) -> list[PartitionStats]:
        conn = self._reader()
        rows = conn.execute(
            "SELECT source_id, partition, count(*), min(seq), max(seq) FROM events LEFT JOIN acks"
            " USING (source_id, partition) WHERE seq > coalesce(acked_seq, 0) GROUP BY source_id, partition"
        ).fetchall()
        acked = {(s, p): a for s, p, a in conn.execute("SELECT source_id, partition, acked_seq FROM acks")}
        out = []
        for source_id, partition, depth, first_seq, last_seq in rows:
            # seqs grow with arrival, so the lowest queued seq is the oldest unacknowledged event
            oldest = conn.execute("SELECT received_at_ms FROM events WHERE seq = ?", (first_seq,)).fetchone()
            head = max(last_seq, acked.pop((source_id, partition), 0))
            out.append(PartitionStats(source_id, partition, depth, oldest[0] if oldest else None, head))
        for (source_id, partition), head in acked.items():
            out.append(PartitionStats(source_id, partition, 0, None, head))
        return out

    async def read(self, source_id: str, partition: str, after_seq: int, limit: int) -> list[StoredEvent]:
        return await anyio.to_thread.run_sync(self._read_sync, source_id, partition, after_seq, limit)

    async def head(self, source_id: str, partition: str) -> int:
        return await anyio.to_thread.run_sync(self._head_sync, source_id, partition)

    async def stats(self) -> list[PartitionStats]:
        return await anyio.to_thread.run_sync(self._stats_sync)
