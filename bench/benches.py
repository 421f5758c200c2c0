"""The five benchmarks of issue #6; each returns Figures: value, baseline measured in the same run, ratio, target."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import requests

from bench import http_load
from bench.common import (
    CHILD_STREAMS,
    HOST,
    PYTHON,
    ROOT,
    CollectorProcess,
    FakeZohoProcess,
    Figure,
    Run,
    catalog,
    discover,
    fake_zoho,
    fmt,
    free_port,
    log,
    read,
    run_counted,
    stop,
    wait_http,
)


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark is. `full` stays under ~10 minutes on 2 cores; `quick` is a ~1-minute smoke run."""

    throughput_tickets: int
    throughput_repeats: int
    latency_tickets: int
    latency_ms: int
    latency_other: dict[str, int]
    concurrencies: tuple[int, ...]
    memory_small: int
    memory_large: int
    ingest_seconds: float
    ingest_clients: int
    offered_rate: int
    drain_events: int
    credits_tickets: int
    changed_tickets: int


FULL = Sizes(
    throughput_tickets=50_000, throughput_repeats=3,
    latency_tickets=20_000, latency_ms=150,
    latency_other={"contacts": 3000, "accounts": 1000, "products": 200, "contracts": 200, "tasks": 600,
                   "calls": 600, "events": 600, "articles": 300, "agents": 50},
    concurrencies=(1, 5, 10),
    memory_small=20_000, memory_large=200_000,
    ingest_seconds=15, ingest_clients=16, offered_rate=500, drain_events=100_000,
    credits_tickets=1000, changed_tickets=10,
)
QUICK = Sizes(
    throughput_tickets=10_000, throughput_repeats=1,
    latency_tickets=500, latency_ms=150, latency_other={},
    concurrencies=(1, 5, 10),
    memory_small=5000, memory_large=50_000,
    ingest_seconds=3, ingest_clients=16, offered_rate=500, drain_events=10_000,
    credits_tickets=50, changed_tickets=5,
)

# Page maxima of the list endpoints (the README's Streams table) for the minimal-calls baseline of bench 5.
PAGE_MAX = {"tickets": 100, "departments": 200, "products": 100, "contracts": 100, "contacts": 99, "accounts": 99,
            "agents": 200, "tasks": 99, "calls": 99, "events": 99, "articles": 50}
PER_DEPARTMENT = ("tasks", "calls", "events")
PER_MODULE = ("organization_fields", "layouts")  # one call per module (9 modules; each answer fits a page)
UNPAGED = ("teams", "organization_modules")


def _check(run: Run, what: str, expected: int | None = None) -> None:
    if run.returncode != 0 or run.errors:
        raise RuntimeError(f"{what} failed: {run.errors[:3]} {run.stderr_tail[-800:]}")
    if expected is not None and run.records != expected:
        raise RuntimeError(f"{what}: {run.records} records, expected {expected}")


def _bare(fake: FakeZohoProcess, name: str) -> Run:
    return run_counted([PYTHON, "bench/bare_loop.py", "--api-url", fake.api_url, "--accounts-url", fake.accounts_url],
                       name, timeout_s=600, plain_lines=True)


# ---- 1. full-refresh throughput --------------------------------------------------------------------
def throughput(sizes: Sizes) -> list[Figure]:
    n = sizes.throughput_tickets
    log(f"bench 1: full refresh of {n:,} tickets, connector vs a bare requests loop (x{sizes.throughput_repeats})")
    with fake_zoho(n, name="fake-throughput") as fake:
        configured = catalog(discover(fake.config()), ["tickets"])
        bare_rates, conn_rates, conn_cpu, fake_cpu = [], [], [], []
        for i in range(sizes.throughput_repeats):
            bare = _bare(fake, f"bench1-bare-{i}")
            _check(bare, "bare loop", n)
            before = fake.cpu_seconds()
            conn = read(fake.config(), configured, f"bench1-read-{i}")
            fake_cpu.append(fake.cpu_seconds() - before)
            _check(conn, "connector read", n)
            bare_rates.append(bare.records_per_s)
            conn_rates.append(conn.records_per_s)
            conn_cpu.append(conn.cpu_s / conn.wall_s)
            log(f"  run {i}: bare {bare.records_per_s:,.0f} rec/s ({bare.wall_s:.2f}s), connector "
                f"{conn.records_per_s:,.0f} rec/s ({conn.wall_s:.2f}s, connector CPU {conn.cpu_s:.2f}s, "
                f"fake CPU {fake_cpu[-1]:.2f}s)")
    bare_rate, conn_rate = statistics.median(bare_rates), statistics.median(conn_rates)
    ratio = conn_rate / bare_rate
    return [Figure("1", f"full-refresh throughput, {n:,} tickets (median of {len(conn_rates)})",
                   fmt(conn_rate, "rec/s"), fmt(bare_rate, "rec/s (bare requests loop)"), ratio, "≥ 0.6×",
                   ratio >= 0.6,
                   f"default config (page_size 100, max_concurrency default); connector process at "
                   f"{statistics.median(conn_cpu):.0%} of a core; fake server "
                   f"{statistics.median(fake_cpu):.1f} CPU-s per read")]


# ---- 2. latency-bound concurrency ------------------------------------------------------------------
def latency(sizes: Sizes) -> list[Figure]:
    n, ms = sizes.latency_tickets, sizes.latency_ms
    log(f"bench 2: {n:,} tickets + the other top-level streams at {ms} ms per request, "
        f"max_concurrency {sizes.concurrencies}")
    walls: dict[int, float] = {}
    loops: dict[int, float] = {}
    calls: dict[int, int] = {}
    records: dict[int, int] = {}
    with fake_zoho(n, latency_ms=ms, sizes=sizes.latency_other, name="fake-latency") as fake:
        streams = discover(fake.config())
        names = [s["name"] for s in streams if s["name"] not in CHILD_STREAMS]
        configured = catalog(streams, names)
        for c in sizes.concurrencies:
            fake.reset_calls()
            run = read(fake.config(max_concurrency=c), configured, f"bench2-c{c}", parse_records=True)
            _check(run, f"read at max_concurrency {c}")
            walls[c] = run.wall_s
            loops[c] = _stream_seconds(run)
            records[c] = run.records
            calls[c] = sum(v for k, v in fake.calls().items() if k.startswith("GET /api/v1"))
            log(f"  max_concurrency {c}: {run.wall_s:.1f}s ({loops[c]:.1f}s syncing streams), {run.records:,} records, "
                f"{calls[c]} API calls")
    if len(set(records.values())) != 1:
        raise RuntimeError(f"record counts differ between concurrencies: {records}")
    base = sizes.concurrencies[0]
    figures = [Figure("2", f"latency-bound read, max_concurrency {base}", fmt(walls[base], "s", 1), "—", None, "—",
                      None, f"{records[base]:,} records, {calls[base]} API calls × {ms} ms = "
                      f"{calls[base] * ms / 1000:.1f}s of pure latency")]
    for c in sizes.concurrencies[1:]:
        speedup = walls[base] / walls[c]
        ratio = speedup / c
        figures.append(Figure("2", f"latency-bound speed-up, max_concurrency {c}",
                              f"{speedup:.2f}× ({walls[c]:.1f} s)", f"{c}× ideal ({walls[base]:.1f} s at {base})",
                              ratio, "≥ 0.8× ideal", ratio >= 0.8,
                              f"{calls[c]} API calls (vs {calls[base]} at max_concurrency {base}); without the fixed "
                              f"start-up (the CDK's per-stream sync times: {loops[base]:.1f}s → {loops[c]:.1f}s) the "
                              f"speed-up is {loops[base] / loops[c]:.2f}×" if loops[c] else ""))
    return figures


def _stream_seconds(run: Run) -> float:
    """Sum of the CDK's "Syncing stream NAME H:MM:SS.ffffff" runtimes: the read without process start-up."""
    total = 0.0
    reports = [message for message in run.logs if "runtimes:" in message]
    for message in reports[-1:]:  # the last report lists every stream synced
        for line in message.splitlines():
            if line.startswith("Syncing stream "):
                hours, minutes, seconds = line.rsplit(" ", 1)[1].split(":")
                total += int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return total


# ---- 3. memory -------------------------------------------------------------------------------------
def memory(sizes: Sizes) -> list[Figure]:
    small, large = sizes.memory_small, sizes.memory_large
    log(f"bench 3: peak RSS of a full refresh of {small:,} vs {large:,} tickets")
    peaks: dict[int, Run] = {}
    for n in (small, large):
        with fake_zoho(n, name=f"fake-memory-{n}") as fake:
            run = read(fake.config(), catalog(discover(fake.config()), ["tickets"]), f"bench3-{n}")
            _check(run, f"read of {n} tickets", n)
            peaks[n] = run
            log(f"  {n:,} tickets: peak RSS {run.peak_rss_mb:.1f} MiB, {run.wall_s:.1f}s")
    ratio = peaks[large].peak_rss_mb / peaks[small].peak_rss_mb
    return [Figure("3", f"peak RSS, {large:,} vs {small:,} tickets", fmt(peaks[large].peak_rss_mb, "MiB", 1),
                   fmt(peaks[small].peak_rss_mb, "MiB", 1), ratio, "≤ 1.2×", ratio <= 1.2,
                   f"{large // small}× the records; {large:,} read at {peaks[large].records_per_s:,.0f} rec/s")]


# ---- 4. collector ingest and drain -----------------------------------------------------------------
class EventFactory:
    """Ticket_Update events with realistic ticket payloads (pages of the fake), every one a distinct ticket id."""

    def __init__(self, fake: FakeZohoProcess, org_id: str) -> None:
        token = requests.post(f"{fake.base_url}/_fake/access_token", timeout=30).json()["access_token"]
        page = requests.get(f"{fake.api_url}/tickets", params={"from": 0, "limit": 100}, timeout=30,
                            headers={"Authorization": f"Zoho-oauthtoken {token}", "orgId": org_id}).json()["data"]
        self.templates = page
        self.org_id = org_id
        self.now_ms = int(time.time() * 1000)

    def event(self, i: int) -> dict[str, Any]:
        payload = dict(self.templates[i % len(self.templates)])
        payload["id"] = str(900_000_000_000_000 + i)
        payload["ticketNumber"] = str(100_000 + i)
        return {"eventType": "Ticket_Update", "eventTime": str(self.now_ms + i), "orgId": self.org_id,
                "payload": payload}

    def single(self, offset: int) -> http_load.Body:
        def body(i: int) -> tuple[bytes, int]:
            return json.dumps([self.event(offset + i)], separators=(",", ":")).encode(), 1

        return body

    def batch(self, offset: int, size: int) -> http_load.Body:
        def body(i: int) -> tuple[bytes, int]:
            start = offset + i * size
            events = [self.event(start + j) for j in range(size)]
            return json.dumps(events, separators=(",", ":")).encode(), size

        return body


ROUNDS = 3  # baseline and collector phases alternate, so a noisy moment on a shared machine hits both


def _load(port: int, path: str, body: http_load.Body, sizes: Sizes, rate: int | None) -> http_load.LoadResult:
    seconds = sizes.ingest_seconds / ROUNDS
    if rate is None:
        return asyncio.run(http_load.flat_out(HOST, port, path, body, sizes.ingest_clients, seconds))
    return asyncio.run(http_load.fixed_rate(HOST, port, path, body, rate, seconds, connections=sizes.ingest_clients))


def _merge(rounds: list[http_load.LoadResult]) -> http_load.LoadResult:
    merged = http_load.LoadResult()
    for r in rounds:
        merged.ok += r.ok
        merged.failed += r.failed
        merged.events += r.events
        merged.elapsed_s += r.elapsed_s
        merged.latencies_ms += r.latencies_ms
        for status, count in r.statuses.items():
            merged.statuses[status] = merged.statuses.get(status, 0) + count
    return merged


def _p99s(rounds: list[http_load.LoadResult]) -> str:
    return " / ".join(f"{r.percentile(99):.1f}" for r in rounds)


def collector(sizes: Sizes) -> list[Figure]:
    from integration_tests.fake_zoho import defaults

    log(f"bench 4: collector ingest ({sizes.ingest_clients} clients, flat out and {sizes.offered_rate} events/s, "
        f"{ROUNDS} alternating rounds, {sizes.ingest_seconds:.0f}s in all of each) vs a no-op Starlette handler; "
        f"drain of {sizes.drain_events:,} events")
    figures: list[Figure] = []
    with fake_zoho(100, name="fake-collector") as fake:
        factory = EventFactory(fake, defaults.ORG_ID)
        # The baseline: same uvicorn settings, a handler that only reads the body.
        port = free_port()
        noop = subprocess.Popen([PYTHON, "bench/noop_app.py", "--port", str(port)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        col = CollectorProcess("collector-ingest", defaults.ORG_ID)
        try:
            wait_http(f"http://{HOST}:{port}/health", noop)
            runs: dict[str, list[http_load.LoadResult]] = {"base_flat": [], "flat": [], "base_rate": [], "rate": []}
            offset = 0
            for _ in range(ROUNDS):
                runs["base_flat"].append(_load(port, "/hooks/x", factory.single(0), sizes, None))
                runs["flat"].append(_load(col.port, col.hook_path, factory.single(offset), sizes, None))
                offset += runs["flat"][-1].ok + runs["flat"][-1].failed
                runs["base_rate"].append(_load(port, "/hooks/x", factory.single(0), sizes, sizes.offered_rate))
                runs["rate"].append(_load(col.port, col.hook_path, factory.single(offset), sizes, sizes.offered_rate))
                offset += runs["rate"][-1].ok + runs["rate"][-1].failed
            stop(noop)
            for name, rounds in runs.items():
                res = _merge(rounds)
                log(f"  {name}: {res.events_per_s:,.0f} events/s, p50 {res.percentile(50):.1f} ms, "
                    f"p99 {res.percentile(99):.1f} ms (per round {_p99s(rounds)}), statuses {res.statuses}")
            base_flat, flat = _merge(runs["base_flat"]), _merge(runs["flat"])
            base_rate, fixed = _merge(runs["base_rate"]), _merge(runs["rate"])
            ratio = flat.events_per_s / base_flat.events_per_s
            figures.append(Figure(
                "4", f"collector durable ingest, flat out ({sizes.ingest_clients} clients, 1 event/POST)",
                f"{fmt(flat.events_per_s, 'events/s')} (p50 {flat.percentile(50):.1f} / p99 "
                f"{flat.percentile(99):.1f} ms)",
                f"{fmt(base_flat.events_per_s, 'events/s')} no-op (p50 {base_flat.percentile(50):.1f} / p99 "
                f"{base_flat.percentile(99):.1f} ms)",
                ratio, "≥ 0.5×", ratio >= 0.5 and flat.failed == 0,
                f"{flat.failed} failed requests" if flat.failed else ""))
            p99 = fixed.percentile(99)
            slow = [s for r in runs["rate"] for s in r.slow_seconds(50)]
            ratio = p99 / base_rate.percentile(99)
            figures.append(Figure(
                "4", f"collector ingest p99 at {sizes.offered_rate} events/s offered",
                f"p99 {p99:.1f} ms (p50 {fixed.percentile(50):.1f}; {fixed.events_per_s:,.0f} events/s)",
                f"p99 {base_rate.percentile(99):.1f} ms no-op (p50 {base_rate.percentile(50):.1f})", ratio,
                "p99 < 50 ms", p99 < 50 and fixed.failed == 0,
                f"p99 per round: collector {_p99s(runs['rate'])} ms, no-op {_p99s(runs['base_rate'])} ms; "
                f"{sum(n for _, n, _ in slow)} requests over 50 ms, in {len(slow)} distinct seconds"
                + (f"; {fixed.failed} failed" if fixed.failed else "")))
            figures.extend(_drain(col, fake, factory, offset, sizes))
        finally:
            stop(noop)
            col.close()
    return figures


def _drain(col: CollectorProcess, fake: FakeZohoProcess, factory: EventFactory, offset: int,
           sizes: Sizes) -> list[Figure]:
    have = col.head("tickets")
    missing = max(0, sizes.drain_events - have)
    if missing:
        batch = 500
        requests_needed = (missing + batch - 1) // batch
        log(f"  filling the queue: {requests_needed} batches of {batch} events")
        body = factory.batch(offset, batch)

        async def fill_all() -> None:
            conn = http_load.HttpConnection(HOST, col.port)
            try:
                for i in range(requests_needed):
                    data, _ = body(i)
                    status = await conn.post(col.hook_path, data)
                    if status != 200:
                        raise RuntimeError(f"filling the queue: HTTP {status}")
            finally:
                await conn.close()

        started = time.perf_counter()
        asyncio.run(fill_all())
        elapsed = time.perf_counter() - started
        log(f"  filled in {elapsed:.1f}s ({requests_needed * batch / elapsed:,.0f} events/s "
            f"in batches of {batch})")
    total = col.head("tickets")
    streams = discover(fake.config(incremental=col.incremental("webhook")))
    configured = catalog(streams, ["tickets"], "incremental")
    config = fake.config(incremental=col.incremental("webhook"))

    def state(seq: int) -> list[dict[str, Any]]:
        return [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "tickets"}, "stream_state": {"seq": seq}}}]

    # Order matters: a sync acknowledges its incoming state's seq and the collector then deletes those
    # events, so the bare loop and the full drain (state seq 0) run before the empty sync (seq = head).
    bare = run_counted([PYTHON, "bench/bare_loop.py", "--collector", col.base_url, "--source",
                        col.source["data_source_id"], "--credential", col.source["drain_credential"],
                        "--page-size", "1000"], "bench4-drain-bare", timeout_s=600, plain_lines=True)
    _check(bare, "bare drain loop", total)
    run = read(config, configured, "bench4-drain", state=state(0))
    _check(run, "drain", total)
    empty = read(config, configured, "bench4-drain-empty", state=state(total))
    _check(empty, "empty drain", 0)
    rate = total / run.wall_s
    bare_rate = total / bare.wall_s
    net = f"{total / (run.wall_s - empty.wall_s):,.0f}/s" if run.wall_s > empty.wall_s + 0.1 else "n/a (noise)"
    log(f"  drain: {total:,} events in {run.wall_s:.2f}s ({rate:,.0f}/s; ≈{net} net of the {empty.wall_s:.2f}s an "
        f"empty sync takes), peak RSS {run.peak_rss_mb:.0f} MiB; bare loop {bare.wall_s:.2f}s")
    return [Figure("4", f"drain: {total:,} queued events → Airbyte records (incremental read)",
                   fmt(rate, "events/s"), f"{fmt(bare_rate, 'events/s')} (bare loop over the drain API)",
                   rate / bare_rate, "≥ 20,000 events/s", rate >= 20_000,
                   f"whole sync {run.wall_s:.2f}s, of which ≈{empty.wall_s:.2f}s is what an empty sync takes "
                   f"(start-up, ack, head): ≈{net} net; peak RSS {run.peak_rss_mb:.0f} MiB "
                   f"(an empty sync: {empty.peak_rss_mb:.0f} MiB)")]


# ---- 5. credits ------------------------------------------------------------------------------------
def credit_weight(offset: int) -> int:
    """Zoho's credits per list call by offset (reference notes §5): 3 / 5 / 10 / 50 / 100."""
    for ceiling, weight in ((2000, 3), (10_000, 5), (50_000, 10), (100_000, 50)):
        if offset <= ceiling:
            return weight
    return 100


def _paged(n: int, page: int, first_offset: int = 0) -> tuple[int, int]:
    """(calls, credits) a minimal client spends listing n records: full pages, then a short page or a 204."""
    calls = n // page + 1
    return calls, sum(credit_weight(first_offset + i * page) for i in range(calls))


def minimal_full_refresh(by_stream: dict[str, int], departments: int, tickets: int) -> tuple[int, int]:
    """The fewest list calls (and their credits) that return these record counts: every page full, the
    department ids read once, the tickets listed once, one children call per ticket per child stream."""
    calls = credits = 0
    for stream, n in by_stream.items():
        if stream in CHILD_STREAMS:
            calls, credits = calls + tickets, credits + 3 * tickets
        elif stream in PER_MODULE:
            calls, credits = calls + 9, credits + 27
        elif stream in UNPAGED:
            calls, credits = calls + 1, credits + 3
        elif stream in PER_DEPARTMENT:
            per = [n // departments + (1 if d < n % departments else 0) for d in range(departments)]
            for count in per:
                c, k = _paged(count, PAGE_MAX[stream])
                calls, credits = calls + c, credits + k
        elif stream in PAGE_MAX:
            c, k = _paged(n, PAGE_MAX[stream])
            calls, credits = calls + c, credits + k
    return calls, credits


def _api_calls(calls: dict[str, int]) -> int:
    return sum(v for k, v in calls.items() if k.startswith("GET /api/v1"))


def _credits_charged(fake: FakeZohoProcess, before: int) -> int:
    return before - int(fake.current_settings()["credits_remaining"])


def credits(sizes: Sizes) -> list[Figure]:
    from integration_tests.fake_zoho import defaults

    n, k = sizes.credits_tickets, sizes.changed_tickets
    log(f"bench 5: API calls and credits ({n:,} tickets; full refresh, webhook sync without changes, "
        f"polling sync with {k} changed tickets)")
    figures: list[Figure] = []
    with fake_zoho(n, name="fake-credits") as fake:
        # 5a: full refresh of every stream.
        streams = discover(fake.config())
        fake.reset_calls()
        before = int(fake.current_settings()["credits_remaining"])
        full = read(fake.config(), catalog(streams, None), "bench5-full", parse_records=True)
        _check(full, "full refresh")
        full_calls = _api_calls(fake.calls())
        charged = _credits_charged(fake, before)
        logged = full.credits_logged()
        min_calls, min_credits = minimal_full_refresh(dict(full.by_stream), defaults.SIZES["departments"], n)
        log(f"  full refresh: {full.records:,} records, {full_calls} calls, {charged} credits charged by the fake, "
            f"{logged} logged by the connector; minimum {min_calls} calls / {min_credits} credits")
        figures.append(Figure("5", f"credits, full refresh of all 19 streams ({n:,} tickets)",
                              f"{charged:,} credits in {full_calls:,} calls",
                              f"{min_credits:,} credits in {min_calls:,} calls (minimum for the same records)",
                              charged / min_credits, "—", None,
                              f"connector's own log: {logged} credits" + ("" if logged == charged else " (MISMATCH)")))

        # 5b: webhook incremental with no changes.
        col = CollectorProcess("collector-credits", defaults.ORG_ID)
        try:
            config = fake.config(incremental=col.incremental("webhook"))
            inc_streams = [s for s in discover(config) if "incremental" in s.get("supported_sync_modes", [])]
            configured = catalog(inc_streams, None, "incremental")
            fake.reset_calls()
            first = read(config, configured, "bench5-webhook-first", parse_records=True)
            _check(first, "first webhook sync")
            first_calls = _api_calls(fake.calls())
            fake.reset_calls()
            before = int(fake.current_settings()["credits_remaining"])
            second = read(config, configured, "bench5-webhook-second", state=list(first.states.values()))
            _check(second, "second webhook sync")
            second_by_path = {k: v for k, v in fake.calls().items() if k.startswith("GET /api/v1")}
            second_calls = sum(second_by_path.values())
            second_credits = _credits_charged(fake, before)
            log(f"  webhook: first sync {first_calls} calls ({first.records:,} records); second sync without "
                f"changes {second_calls} calls, {second_credits} credits, {second.records} records")
            figures.append(Figure(
                "5", f"webhook incremental, no changes ({len(inc_streams)} streams)",
                f"{second_calls} list calls ({second_credits} credits)",
                f"{first_calls:,} calls (first sync: snapshot)", second_calls / first_calls if first_calls else None,
                "0 list calls", second_calls == 0,
                "calls: " + ", ".join(f"{k.removeprefix('GET /api/v1')} ×{v}" for k, v in second_by_path.items())
                if second_by_path else ""))
        finally:
            col.close()

        # 5c: polling incremental with k changed tickets.
        config = fake.config(incremental={"mode": "polling"})
        names = ["tickets", *CHILD_STREAMS]
        configured = catalog(discover(config), names, "incremental")
        fake.reset_calls()
        before = int(fake.current_settings()["credits_remaining"])
        first = read(config, configured, "bench5-polling-first", parse_records=True)
        _check(first, "first polling sync")
        first_calls, first_credits = _api_calls(fake.calls()), _credits_charged(fake, before)
        time.sleep(1.1)  # the changes must be newer than the first sync's cursor
        for ticket_id in fake.ids("tickets", k):
            fake.update("tickets", ticket_id, subject="bench: changed")
        fake.reset_calls()
        before = int(fake.current_settings()["credits_remaining"])
        second = read(config, configured, "bench5-polling-second", state=list(first.states.values()),
                      parse_records=True)
        _check(second, "second polling sync")
        calls = fake.calls()
        second_calls, second_credits = _api_calls(calls), _credits_charged(fake, before)
        searches = sum(v for key, v in calls.items() if key.startswith("GET") and key.endswith("/search"))
        log(f"  polling: first sync {first_calls} calls / {first_credits} credits; with {k} changed tickets "
            f"{second_calls} calls ({searches} searches) / {second_credits} credits, records {dict(second.by_stream)}")
        figures.append(Figure(
            "5", f"polling incremental, {k} changed tickets (tickets + 4 child streams)",
            f"{second_credits:,} credits in {second_calls} calls ({searches} searches)",
            f"{first_credits:,} credits in {first_calls:,} calls (first sync = full read)",
            second_credits / first_credits, "—", None,
            f"{second.records} records: " + ", ".join(f"{s} {c}" for s, c in sorted(second.by_stream.items()))))
    return figures


ALL = {"throughput": throughput, "latency": latency, "memory": memory, "collector": collector, "credits": credits}
