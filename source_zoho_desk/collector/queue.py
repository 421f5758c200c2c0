"""The durable event queue: the `EventQueue` interface and its default SQLite implementation."""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import anyio.to_thread

from source_zoho_desk.collector.events import Event

log = logging.getLogger("source_zoho_desk.collector.queue")


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
    loop: asyncio.AbstractEventLoop


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the request was cancelled (client went away); the write still happened
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _settle_all(settlements: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in settlements:
        _settle(future, result, error)


class SQLiteEventQueue:
    """SQLite in WAL mode with one writer thread doing group commit: every append waiting at the same
    time goes into one transaction and one fsync, which keeps latency flat under concurrent posts."""

    max_group = 512
    prune_every_s = 60.0
    prune_batch = 5000

    def __init__(self, path: Path, dedupe_retention_s: float = 7 * 86400) -> None:
        self.path = Path(path)
        self.dedupe_retention_ms = int(dedupe_retention_s * 1000)
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._last_prune = 0.0

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._writer is not None:
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the queue holds customer data
        conn = _connect(self.path)
        conn.executescript(_SCHEMA)
        self._writer = threading.Thread(target=self._write_loop, args=(conn,), name="queue-writer", daemon=True)
        self._writer.start()

    async def close(self) -> None:
        if self._writer is None:
            return
        self._jobs.put(None)  # processed after every job already queued: nothing accepted is lost
        await anyio.to_thread.run_sync(self._writer.join)
        self._writer = None
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    # -- writes (single writer thread) ----------------------------------------------------------------
    async def _submit(self, kind: str, *args: Any) -> Any:
        if self._writer is None or not self._writer.is_alive():
            raise QueueUnavailable("the queue writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._jobs.put(_Job(kind, args, future, loop))
        return await future

    async def append(self, source_id: str, events: Sequence[Event], received_at_ms: int) -> AppendResult:
        return await self._submit("append", source_id, tuple(events), received_at_ms)

    async def acknowledge(self, source_id: str, partition: str, upto_seq: int) -> int:
        return await self._submit("ack", source_id, partition, upto_seq)

    async def prune(self) -> None:
        """Forget duplicate keys past the retention window now (the writer also does it every minute)."""
        await self._submit("prune")

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        stopping = False
        while not stopping:
            try:
                first = self._jobs.get(timeout=self.prune_every_s)
            except queue.Empty:
                self._prune(conn)
                continue
            group: list[_Job] = []
            if first is None:
                stopping = True
            else:
                group.append(first)
            while len(group) < self.max_group and not stopping:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                else:
                    group.append(job)
            if group:
                self._run_group(conn, group)
            if time.monotonic() - self._last_prune > self.prune_every_s:
                self._prune(conn)
        conn.close()
        # A job that slipped in behind the stop marker is failed (no 200), never left waiting forever.
        while True:
            try:
                late = self._jobs.get_nowait()
            except queue.Empty:
                break
            if late is not None:
                late.loop.call_soon_threadsafe(_settle, late.future, None, QueueUnavailable("the queue is closed"))

    def _run_group(self, conn: sqlite3.Connection, group: list[_Job]) -> None:
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            i = 0
            while i < len(group):
                # Consecutive appends are written with a handful of statements for the whole run: every
                # statement makes this thread re-take the GIL from the event loop, so per-event statements
                # were what limited ingest.
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
            conn.execute("COMMIT")
        except Exception as exc:  # fail the group's requests (no 200), keep the thread
            log.error("queue commit failed", extra={"error": str(exc)})
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            outcomes = [(None, QueueUnavailable(str(exc))) for _ in group]
        # Only now — after COMMIT returned, i.e. the WAL is fsynced — may the requests answer 200. One wake-up
        # per event loop for the whole group: each call_soon_threadsafe writes to the loop's self-pipe.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
        for job, (result, error) in zip(group, outcomes, strict=True):
            by_loop.setdefault(job.loop, []).append((job.future, result, error))
        for loop, settlements in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle_all, settlements)
            except RuntimeError:  # the loop is gone (process shutting down)
                pass

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
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        last = row[0] if row else 0
        if upto_seq > last:
            # Acknowledging a seq never handed out would make head() jump ahead of events still to come.
            raise AckBeyondHead(f"upto_seq {upto_seq} is beyond the last sequence number {last}")
        deleted = conn.execute(
            "DELETE FROM events WHERE source_id = ? AND partition = ? AND seq <= ?",
            (source_id, partition, upto_seq),
        ).rowcount
        conn.execute(
            "INSERT INTO acks (source_id, partition, acked_seq) VALUES (?, ?, ?)"
            " ON CONFLICT (source_id, partition) DO UPDATE SET acked_seq = max(acked_seq, excluded.acked_seq)",
            (source_id, partition, upto_seq),
        )
        return deleted

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
            if deleted < self.prune_batch or not self._jobs.empty():
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
            " WHERE source_id = ? AND partition = ? AND seq > ? ORDER BY seq LIMIT ?",
            (source_id, partition, after_seq, limit),
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
            "SELECT source_id, partition, count(*), min(seq), max(seq) FROM events GROUP BY source_id, partition"
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
