"""The service URL (`/hooks/{token}`), where Zoho posts events: a plain ASGI endpoint, not a Starlette route.

This is the collector's hot path. Starlette's middleware, Request and Response objects and a logged line per
request cost more CPU than validating and storing an event, so the endpoint reads the ASGI messages itself
and logs a summary per interval instead of one line per delivery (per-request lines at DEBUG).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson
from anyio.to_thread import run_sync
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from source_zoho_desk.collector.events import UNKNOWN_PARTITION, EventError, normalise_batch, parse_body
from source_zoho_desk.collector.jwt import HEADER as JWT_HEADER
from source_zoho_desk.collector.jwt import JwtRejected
from source_zoho_desk.collector.queue import QueueUnavailable
from source_zoho_desk.collector.sources import DataSource

if TYPE_CHECKING:
    from source_zoho_desk.collector.app import Collector

log = logging.getLogger("source_zoho_desk.collector")

HOOK_PREFIX = "/hooks/"
REDACTED_PATH = HOOK_PREFIX + "<token>"
MAX_TOKEN_LENGTH = 256
# Decoding and digesting a multi-megabyte batch takes tens of ms: above this size it runs off the event
# loop, so small posts from other senders are not held up behind it.
OFFLOAD_BYTES = 64 * 1024
SUMMARY_INTERVAL_S = 60.0
_JSON_TYPES = ("application/json", "text/json")
_CHARSETS = ("utf-8", "utf8")
_NOT_FOUND = ("not_found", "no such service URL")  # same answer for never-existed and revoked


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, object]
    # the rejection reason, for the log; None for a 2xx
    reason: str | None = None
    stored: int = 0


def _error(status: int, reason: str, message: str) -> Answer:
    return Answer(status, {"error": reason, "message": message}, reason)


def _content_type_ok(value: str) -> bool:
    media, _, params = value.partition(";")
    media = media.strip().lower()
    if media not in _JSON_TYPES and not (media.startswith("application/") and media.endswith("+json")):
        return False
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset" and val.strip().strip('"').lower() not in _CHARSETS:
            return False
    return True


def _headers(scope: Scope) -> dict[bytes, bytes]:
    # ASGI servers hand header names lower-cased; the last of repeated headers wins, as in Starlette.
    return dict(scope["headers"])


def _client(scope: Scope) -> str | None:
    # With --proxy-headers uvicorn has already put the forwarded client address here.
    client = scope.get("client")
    return client[0] if client else None


async def read_limited(receive: Receive, limit: int) -> bytes | None:
    """The body, or None once it passes `limit` (stop reading: a huge body never sits in memory).

    Raises Starlette's ClientDisconnect when the sender hangs up mid-body, as `Request.stream` does.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class RequestSummary:
    """Counts service-URL requests by status and logs them once per interval (and at shutdown)."""

    def __init__(self, interval_s: float = SUMMARY_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self.since = clock()
        self.by_status: Counter[int] = Counter()
        self.events_stored = 0

    def record(self, status: int, stored: int) -> None:
        self.by_status[status] += 1
        self.events_stored += stored
        if self.clock() - self.since >= self.interval_s:
            self.flush()

    def flush(self) -> None:
        now = self.clock()
        if self.by_status:
            log.info("service URL requests", extra={
                "path": REDACTED_PATH, "seconds": round(now - self.since, 1),
                "requests": sum(self.by_status.values()), "by_status": dict(sorted(self.by_status.items())),
                "events_stored": self.events_stored,
            })
        self.since = now
        self.by_status.clear()
        self.events_stored = 0


class ServiceUrl:
    """GET/HEAD answer Zoho's URL validation; POST stores the events and answers 200 only once they are durable."""

    def __init__(self, collector: Collector) -> None:
        self.c = collector
        self.summary = RequestSummary()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method = scope["method"]
        token = scope["path"][len(HOOK_PREFIX):]
        source = self._source(token)
        try:
            if method in ("GET", "HEAD"):
                answer = Answer(200, {"status": "ok"}) if source else _error(404, *_NOT_FOUND)
            elif method == "POST":
                answer = await self._post(source, scope, receive)
            else:
                answer = _error(405, "method_not_allowed", "use POST (or GET to validate the URL)")
        except ClientDisconnect:
            # Nothing was stored and nobody reads this answer; the server drops it (ASGI allows the send).
            answer = _error(400, "client_disconnected", "the request body was cut off")
        except Exception:  # never a traceback to the sender, never a dead connection without an answer
            log.exception("service URL request failed", extra={"source": source.id if source else None})
            answer = _error(500, "internal_error", "the collector failed; retry later")
        await _send(send, answer, head=method == "HEAD")
        self.summary.record(answer.status, answer.stored)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("request", extra={"method": method, "path": REDACTED_PATH, "status": answer.status,
                                        "ms": round((time.perf_counter() - started) * 1000, 2),
                                        "client": _client(scope)})

    def _source(self, token: str) -> DataSource | None:
        if not token or len(token) > MAX_TOKEN_LENGTH or "/" in token:
            return None
        # Inline, not in a worker thread: the registry answers from memory (SourceRegistry contract), and
        # the thread hop cost a third of the ingest throughput.
        return self.c.sources.by_url_token(token)

    async def _post(self, source: DataSource | None, scope: Scope, receive: Receive) -> Answer:
        c = self.c
        if source is None:
            c.metrics.rejected.labels("", "unknown_token").inc()
            return _error(404, *_NOT_FOUND)
        answer = await self._ingest(source, _headers(scope), receive)
        if answer.reason is not None:
            c.metrics.rejected.labels(source.id, answer.reason).inc()
            log.info("webhook rejected", extra={"source": source.id, "reason": answer.reason,
                                                "status": answer.status, "client": _client(scope)})
        return answer

    async def _ingest(self, source: DataSource, headers: dict[bytes, bytes], receive: Receive) -> Answer:
        started = time.perf_counter()
        c = self.c
        limit = c.settings.body_limit
        too_large = _error(413, "body_too_large", f"the body is larger than {limit} bytes")
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return too_large
        raw = await read_limited(receive, limit)
        if raw is None:
            return too_large
        if not raw.strip():
            # Zoho's validation POST (sent when the GET did not answer 200) has no documented body;
            # an empty body stores nothing and answers 200 so saving the webhook succeeds.
            return Answer(200, {"stored": 0, "duplicates": 0})
        if not _content_type_ok(headers.get(b"content-type", b"").decode("latin-1")):
            return _error(415, "unsupported_media_type", "send the events as application/json (UTF-8)")
        offload = len(raw) > OFFLOAD_BYTES
        try:
            items = await run_sync(parse_body, raw) if offload else parse_body(raw)
        except EventError as exc:
            return _error(400, exc.reason, exc.message)
        if not items:
            return Answer(200, {"stored": 0, "duplicates": 0})
        counters = c.metrics.for_source(source.id)
        counters.received.inc(len(items))
        if c.verifier is not None:
            jwt = headers.get(JWT_HEADER.encode())
            try:
                await run_sync(c.verifier.verify, None if jwt is None else jwt.decode("latin-1"), source.org_id)
            except JwtRejected as exc:
                return _error(401, "invalid_jwt", str(exc))
        now_ms = int(time.time() * 1000)
        try:
            if offload:
                events = await run_sync(normalise_batch, items, source.org_id, now_ms)
            else:
                events = normalise_batch(items, source.org_id, now_ms)
        except EventError as exc:
            # All-or-nothing: nothing of the batch is stored, so Zoho's retry (or a fixed sender) resends it whole.
            return _error(403 if exc.reason == "wrong_org" else 400, exc.reason, exc.message)
        try:
            result = await c.queue.append(source.id, events, now_ms)
        except QueueUnavailable:
            log.exception("storing events failed", extra={"source": source.id})
            # Not a 200: Zoho keeps the events and retries; the collector stays up.
            return _error(503, "storage_unavailable", "the queue could not store the events; retry later")
        for partition, n in result.by_partition.items():
            counters.stored(partition).inc(n)
        if result.duplicates:
            counters.duplicates.inc(result.duplicates)
        unknown = result.by_partition.get(UNKNOWN_PARTITION, 0)
        if unknown:
            counters.unknown.inc(unknown)
        c.metrics.ingest_seconds.observe(time.perf_counter() - started)
        return Answer(200, {"stored": result.stored, "duplicates": result.duplicates}, stored=result.stored)


async def _send(send: Send, answer: Answer, head: bool) -> None:
    body = orjson.dumps(answer.body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if answer.status == 405:
        headers.append((b"allow", b"GET, HEAD, POST"))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})

