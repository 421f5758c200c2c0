"""A small HTTP/1.1 keep-alive load generator on raw asyncio streams (bench 4).

httpx or requests would spend more CPU per request than the no-op server does, so on 2 cores the client
would be what is measured. This client pre-encodes each request and parses only the status line and
Content-Length, so the server under test is the bottleneck. Latency is taken per request; in fixed-rate
mode it counts from the moment the request was *due* (no coordinated omission: a server that falls behind
is charged the time requests waited for a free connection).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class HttpConnection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: bytes, headers: str = "") -> int:
        """POST and read the whole answer; returns the status. Reconnects once if the server closed."""
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{headers}\r\n").encode()
        for attempt in (0, 1):
            if self.writer is None:
                await self._open()
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(head + body)
                await self.writer.drain()
                raw = await self.reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt:
                    raise
                continue
            lines = raw.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            length, close = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
                elif name == "transfer-encoding":
                    raise RuntimeError("chunked answers are not supported by this client")
            if length:
                await self.reader.readexactly(length)
            if close:
                await self.close()
            return status
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except ConnectionError:
                pass
        self.reader = self.writer = None


@dataclass
class LoadResult:
    ok: int = 0
    failed: int = 0
    events: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    # (seconds since start the request was due/sent, latency ms): to see when the slow ones happened
    timeline: list[tuple[float, float]] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def record(self, at_s: float, latency_ms: float, status: int, events: int) -> None:
        """One answered (or failed) request: `at_s` is when it was sent or due, since the start."""
        self.latencies_ms.append(latency_ms)
        self.timeline.append((at_s, latency_ms))
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == 200:
            self.ok += 1
            self.events += events
        else:
            self.failed += 1

    def slow_seconds(self, threshold_ms: float = 50) -> list[tuple[int, int, float]]:
        """(second, requests slower than threshold in it, worst latency) for every second that had any."""
        per: dict[int, list[float]] = {}
        for at, latency in self.timeline:
            if latency > threshold_ms:
                per.setdefault(int(at), []).append(latency)
        return [(second, len(values), max(values)) for second, values in sorted(per.items())]

    @property
    def events_per_s(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


Body = Callable[[int], tuple[bytes, int]]  # request number -> (body, events in it)


async def flat_out(host: str, port: int, path: str, body: Body, concurrency: int, duration_s: float) -> LoadResult:
    """`concurrency` clients, each posting back to back on its own connection until the time is up."""
    result = LoadResult()
    counter = iter(range(1 << 62))
    started = time.perf_counter()
    deadline = started + duration_s

    async def client() -> None:
        conn = HttpConnection(host, port)
        try:
            while time.perf_counter() < deadline:
                data, events = body(next(counter))
                sent = time.perf_counter()
                try:
                    status = await asyncio.wait_for(conn.post(path, data), timeout=30)
                except (TimeoutError, OSError, asyncio.IncompleteReadError):
                    status = 0
                    await conn.close()
                result.record(sent - started, (time.perf_counter() - sent) * 1000, status, events)
        finally:
            await conn.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.elapsed_s = time.perf_counter() - started
    return result


async def fixed_rate(host: str, port: int, path: str, body: Body, rate: float, duration_s: float,
                     connections: int) -> LoadResult:
    """Open loop: request i is due at start + i/rate; latency runs from the due time to the full answer."""
    result = LoadResult()
    idle: asyncio.Queue[HttpConnection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(HttpConnection(host, port))
    total = int(rate * duration_s)
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()

    async def one(i: int, due: float) -> None:
        conn = await idle.get()
        data, events = body(i)
        try:
            status = await asyncio.wait_for(conn.post(path, data), timeout=30)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            status = 0
            await conn.close()
        finally:
            idle.put_nowait(conn)
        result.record(due - started, (time.perf_counter() - due) * 1000, status, events)

    for i in range(total):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    result.elapsed_s = time.perf_counter() - started
    while not idle.empty():
        await idle.get_nowait().close()
    return result
