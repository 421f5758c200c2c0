"""Proof of durability: kill -9 the collector under concurrent posting; every event answered 200 survives, once."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import requests

from integration_tests.collector.collector_proc import CollectorProcess
from source_zoho_desk.collector.events import ALL_PARTITIONS, PARTITIONS
from source_zoho_desk.queue_client import QueueClient

ORG = "60009999"
CLIENTS = 16
TARGET_OK_EVENTS = 10_000
EVENT_TYPES = sorted(PARTITIONS) + ["Not_A_Zoho_Event"]


class Poster(threading.Thread):
    """One Zoho-like sender: batches of 1-10 events, each with a unique id; records what got a 200."""

    def __init__(self, n: int, url: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.n, self.url, self.stop = n, url, stop
        self.rng = random.Random(n)
        self.batches: list[tuple[list[dict], bool]] = []  # (events, answered 200)
        self.latencies: list[float] = []

    def run(self) -> None:
        session = requests.Session()
        i = 0
        while not self.stop.is_set():
            batch = []
            for _ in range(self.rng.randint(1, 10)):
                i += 1
                batch.append({
                    "eventType": self.rng.choice(EVENT_TYPES),
                    "eventTime": str(int(time.time() * 1000)),
                    "orgId": ORG,
                    "payload": {"id": f"c{self.n}-{i}", "subject": "x" * self.rng.randint(0, 300)},
                })
            started = time.perf_counter()
            try:
                ok = session.post(self.url, json=batch, timeout=10).status_code == 200
                self.latencies.append(time.perf_counter() - started)
            except requests.RequestException:
                ok = False
            self.batches.append((batch, ok))
            if not ok:
                return  # the collector is gone


def drain_all(client: QueueClient) -> list[tuple[str, int, str]]:
    out = []
    for partition in sorted(ALL_PARTITIONS):
        seqs = []
        for e in client.iter_events(partition, 0, page_size=2000):
            seqs.append(e.seq)
            out.append((partition, e.seq, e.payload["id"]))
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    return out


def test_kill9_under_load_loses_no_acknowledged_event(tmp_path):
    proc = CollectorProcess(tmp_path / "data").start()
    try:
        src = proc.create_source(ORG, "kill9")
        stop = threading.Event()
        posters = [Poster(n, src["service_url"], stop) for n in range(CLIENTS)]
        started = time.monotonic()
        for p in posters:
            p.start()

        def ok_events() -> int:
            return sum(len(b) for p in posters for b, ok in list(p.batches) if ok)

        while ok_events() < TARGET_OK_EVENTS:
            assert time.monotonic() - started < 300, "ingest too slow"
            time.sleep(0.05)
        proc.kill9()  # mid-stream: requests are in flight right now
        elapsed = time.monotonic() - started
        stop.set()
        for p in posters:
            p.join(timeout=30)

        batches = [b for p in posters for b in p.batches]
        acked = [ev["payload"]["id"] for batch, ok in batches if ok for ev in batch]
        assert len(acked) >= TARGET_OK_EVENTS
        latencies = sorted(x for p in posters for x in p.latencies)
        print(
            f"\nkill -9 run: {len(acked)} events answered 200 in {elapsed:.1f}s"
            f" ({len(acked) / elapsed:.0f} events/s, {len(latencies) / elapsed:.0f} requests/s,"
            f" {CLIENTS} clients); request p50 {latencies[len(latencies) // 2] * 1000:.1f} ms,"
            f" p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms;"
            f" {sum(1 for _, ok in batches if not ok)} requests unanswered at the kill"
        )

        proc.start()  # same data dir, same port
        client = QueueClient(proc.url, src["drain_credential"], src["data_source_id"])
        stored = drain_all(client)
        counts = Counter(entity for _, _, entity in stored)
        assert not [e for e, n in counts.items() if n > 1], "an event is stored twice"
        missing = [e for e in acked if counts[e] != 1]
        assert not missing, f"{len(missing)} events answered 200 are not in the queue"
        posted = {ev["payload"]["id"] for batch, _ in batches for ev in batch}
        assert set(counts) <= posted
        for batch, _ok in batches:  # all-or-nothing, also for the requests cut off by the kill
            present = {counts[ev["payload"]["id"]] for ev in batch}
            assert present in ({0}, {1}), "a batch was stored half-way"
        # each event sits in the partition its type routes to
        by_id = {ev["payload"]["id"]: ev["eventType"] for batch, _ in batches for ev in batch}
        for partition, _, entity in stored:
            assert PARTITIONS.get(by_id[entity], "unknown") == partition

        # Zoho retries what it did not get a 200 for, and may repeat what it did: still exactly once
        session = requests.Session()
        resend = [batch for batch, ok in batches if not ok] + [batch for batch, ok in batches[:200] if ok]
        for batch in resend:
            assert session.post(src["service_url"], json=batch, timeout=10).status_code == 200
        counts = Counter(entity for _, _, entity in drain_all(client))
        assert set(counts) == posted and set(counts.values()) == {1}
    finally:
        proc.stop()
