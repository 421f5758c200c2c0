"""The storage seam and the entry points: the app runs on any EventQueue; `source-zoho-desk collector` is wired."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from starlette.testclient import TestClient

from source_zoho_desk.collector.app import create_app
from source_zoho_desk.collector.events import Event
from source_zoho_desk.collector.queue import (
    AckBeyondHead,
    AppendResult,
    EventQueue,
    PartitionStats,
    SQLiteEventQueue,
    StoredEvent,
)
from source_zoho_desk.collector.settings import Settings
from source_zoho_desk.collector.sources import SourceRegistry, SQLiteSourceRegistry
from unit_tests.collector.collector_helpers import event, make_source


class MemoryQueue:
    """A minimal second backend (what a PostgreSQL one would implement), to prove the app needs no SQLite."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, StoredEvent]] = []
        self.keys: set[tuple[str, str]] = set()
        self.last = 0
        self.acked: dict[tuple[str, str], int] = {}

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def append(self, source_id: str, events: Sequence[Event], received_at_ms: int) -> AppendResult:
        stored, dup, parts = 0, 0, {}
        for e in events:
            if (source_id, e.dedupe_key) in self.keys:
                dup += 1
                continue
            self.keys.add((source_id, e.dedupe_key))
            self.last += 1
            row = StoredEvent(self.last, e.event_type, e.event_time_ms, e.org_id, e.payload_json,
                              e.prev_state_json, received_at_ms)
            self.rows.append((source_id, e.partition, row))
            stored += 1
            parts[e.partition] = parts.get(e.partition, 0) + 1
        return AppendResult(stored, dup, parts)

    async def read(self, source_id: str, partition: str, after_seq: int, limit: int) -> list[StoredEvent]:
        return [r for s, p, r in self.rows if (s, p) == (source_id, partition) and r.seq > after_seq][:limit]

    async def head(self, source_id: str, partition: str) -> int:
        seqs = [r.seq for s, p, r in self.rows if (s, p) == (source_id, partition)]
        return max([*seqs, self.acked.get((source_id, partition), 0)])

    async def acknowledge(self, source_id: str, partition: str, upto_seq: int) -> int:
        if upto_seq > self.last:
            raise AckBeyondHead(str(upto_seq))
        before = len(self.rows)
        self.rows = [(s, p, r) for s, p, r in self.rows if not ((s, p) == (source_id, partition) and r.seq <= upto_seq)]
        self.acked[(source_id, partition)] = max(upto_seq, self.acked.get((source_id, partition), 0))
        return before - len(self.rows)

    async def stats(self) -> list[PartitionStats]:
        return []


def test_backends_satisfy_the_interfaces(tmp_path):
    assert isinstance(MemoryQueue(), EventQueue)
    assert isinstance(SQLiteEventQueue(tmp_path / "q.db"), EventQueue)
    registry = SQLiteSourceRegistry(tmp_path / "s.db")
    try:
        assert isinstance(registry, SourceRegistry)
    finally:
        registry.close()
    assert not isinstance(object(), EventQueue)


def test_app_runs_unchanged_on_another_backend(tmp_path):
    settings = Settings(data_dir=tmp_path)
    queue = MemoryQueue()
    with TestClient(create_app(settings, queue=queue)) as client:
        src = make_source(settings)
        assert client.post(src.hook, json=[event(entity="1"), event(entity="2")]).json()["stored"] == 2
        assert client.post(src.hook, json=[event(entity="1")]).json() == {"stored": 0, "duplicates": 1}
        base = f"/v1/sources/{src.id}/partitions/tickets"
        events = client.get(base + "/events", headers=src.drain_headers()).json()["events"]
        assert [e["payload"]["id"] for e in events] == ["1", "2"]
        r = client.post(base + "/ack", json={"upto_seq": events[0]["seq"]}, headers=src.drain_headers())
        assert r.json()["deleted"] == 1
    assert not (tmp_path / "queue.db").exists()  # the SQLite queue was never touched


def test_source_zoho_desk_collector_entry_point(tmp_path, capsys):
    from source_zoho_desk.run import run

    with pytest.raises(SystemExit) as exit_info:
        run(["collector", "create-source", "--org-id", "7", "--data-dir", str(tmp_path),
             "--public-base-url", "https://h.example"])
    assert exit_info.value.code == 0
    assert json.loads(capsys.readouterr().out)["service_url"].startswith("https://h.example/hooks/")
