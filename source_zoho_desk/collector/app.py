"""Starlette routes of the collector: service URLs (Zoho posts here), drain API, admin API, health, metrics."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from anyio.to_thread import run_sync
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from source_zoho_desk.collector.events import PARTITION_NAME
from source_zoho_desk.collector.jwt import JwtVerifier
from source_zoho_desk.collector.metrics import Metrics
from source_zoho_desk.collector.queue import AckBeyondHead, EventQueue, QueueUnavailable, SQLiteEventQueue
from source_zoho_desk.collector.service_url import (
    HOOK_PREFIX,
    MAX_TOKEN_LENGTH,
    REDACTED_PATH,
    ServiceUrl,
    read_limited,
)
from source_zoho_desk.collector.settings import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, Settings
from source_zoho_desk.collector.sources import (
    SOURCE_ID,
    DataSource,
    IssuedSecrets,
    SourceRegistry,
    SQLiteSourceRegistry,
    UnknownSource,
    validate_org_id,
)

log = logging.getLogger("source_zoho_desk.collector")


@dataclass
class Collector:
    """Everything a request handler needs; lives on app.state.collector."""

    settings: Settings
    queue: EventQueue
    sources: SourceRegistry
    metrics: Metrics
    verifier: JwtVerifier | None


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _collector(request: Request) -> Collector:
    return request.app.state.collector


# -- drain API (authenticated with the data source's drain credential) --------------------------------
def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


async def _drain_auth(request: Request) -> tuple[DataSource, str] | Response:
    c = _collector(request)
    source_id = request.path_params["source_id"]
    credential = _bearer(request)
    source = None
    if credential and len(credential) <= MAX_TOKEN_LENGTH and SOURCE_ID.fullmatch(source_id):
        source = await run_sync(c.sources.check_credential, source_id, credential)
    if source is None:
        # One answer for "no such source" and "wrong credential": no oracle for which ids exist.
        return error(401, "unauthorized", "the drain credential is not valid for this data source")
    partition = request.path_params["partition"]
    if not PARTITION_NAME.fullmatch(partition):
        return error(400, "invalid_partition", "a partition is a stream name such as 'tickets'")
    return source, partition


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and low <= int(raw) <= high):
        raise HTTPException(400, f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _event_json(e: Any) -> str:
    # payload/prev_state are stored as canonical JSON text; splice them in rather than parse and re-dump.
    return (
        f'{{"seq":{e.seq},"event_type":{json.dumps(e.event_type)},"event_time_ms":{e.event_time_ms},'
        f'"org_id":{json.dumps(e.org_id)},"payload":{e.payload_json},'
        f'"prev_state":{e.prev_state_json or "null"},"received_at_ms":{e.received_at_ms}}}'
    )


async def drain_events(request: Request) -> Response:
    auth = await _drain_auth(request)
    if isinstance(auth, Response):
        return auth
    source, partition = auth
    after_seq = _int_param(request, "after_seq", 0, 0, 2**63 - 1)
    limit = _int_param(request, "limit", DEFAULT_PAGE_LIMIT, 1, MAX_PAGE_LIMIT)
    events = await _collector(request).queue.read(source.id, partition, after_seq, limit)
    next_after = events[-1].seq if events else after_seq
    body = (
        f'{{"partition":{json.dumps(partition)},"after_seq":{after_seq},"next_after_seq":{next_after},'
        f'"events":[{",".join(_event_json(e) for e in events)}]}}'
    )
    return Response(body, media_type="application/json")


async def drain_head(request: Request) -> Response:
    auth = await _drain_auth(request)
    if isinstance(auth, Response):
        return auth
    source, partition = auth
    head = await _collector(request).queue.head(source.id, partition)
    return JSONResponse({"partition": partition, "head_seq": head})


async def drain_ack(request: Request) -> Response:
    auth = await _drain_auth(request)
    if isinstance(auth, Response):
        return auth
    source, partition = auth
    raw = await read_limited(request.receive, 4096)
    try:
        body = json.loads(raw or b"")
        upto = body["upto_seq"]
        if isinstance(upto, bool) or not isinstance(upto, int) or not 0 <= upto < 2**63:
            raise ValueError
    except (ValueError, TypeError, KeyError, RecursionError):
        return error(400, "invalid_ack", 'send {"upto_seq": <non-negative integer>}')
    try:
        deleted = await _collector(request).queue.acknowledge(source.id, partition, upto)
    except AckBeyondHead as exc:
        return error(409, "ack_beyond_head", str(exc))
    except QueueUnavailable:
        log.exception("acknowledge failed", extra={"source": source.id})
        return error(503, "storage_unavailable", "the queue could not record the acknowledgement")
    log.info("acknowledged", extra={"source": source.id, "partition": partition, "upto_seq": upto, "deleted": deleted})
    return JSONResponse({"partition": partition, "acknowledged_seq": upto, "deleted": deleted})


# -- admin API (the "Generate Service URL" step over HTTP) ---------------------------------------------
def _admin_ok(request: Request) -> bool:
    expected = _collector(request).settings.admin_token
    if not expected:
        return False
    return hmac.compare_digest(_bearer(request).encode("utf-8", "surrogatepass"), expected.encode())


def _base_url(request: Request) -> str:
    # Configured base wins; otherwise the request's own (scheme/client fixed up by uvicorn's proxy
    # headers support when --proxy-headers is on).
    configured = _collector(request).settings.public_base_url
    return configured.rstrip("/") if configured else str(request.base_url).rstrip("/")


def issued_json(settings: Settings, base_url: str | None, issued: IssuedSecrets) -> dict[str, Any]:
    out: dict[str, Any] = {"data_source_id": issued.source.id, "org_id": issued.source.org_id,
                           "name": issued.source.name}
    if issued.url_token is not None:
        out["service_url"] = settings.service_url(base_url, issued.url_token) if base_url else None
        out["service_path"] = f"{HOOK_PREFIX}{issued.url_token}"
    if issued.drain_credential is not None:
        out["drain_credential"] = issued.drain_credential
    return out


async def admin(request: Request) -> Response:
    c = _collector(request)
    if not _admin_ok(request):
        # 404, not 401: do not advertise that an admin API exists.
        return error(404, "not_found", "Not Found")
    action = request.path_params.get("action")
    source_id = request.path_params.get("source_id")
    if source_id is not None and not SOURCE_ID.fullmatch(source_id):
        return error(404, "unknown_source", "no such data source")
    if request.method == "GET":
        sources = await run_sync(c.sources.list)
        return JSONResponse({"sources": [s.to_json() for s in sources]})
    try:
        if source_id is None:
            raw = await read_limited(request.receive, 4096)
            try:
                body = json.loads(raw or b"{}")
                org_id = validate_org_id(str(body["org_id"]))
                name = str(body.get("name") or "")
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
                return error(400, "invalid_request", 'send {"org_id": "<Zoho org id>", "name": "<optional>"}')
            issued = await run_sync(c.sources.create, org_id, name)
            log.info("data source created", extra={"source": issued.source.id, "org": org_id})
            status = 201
        elif action == "rotate-url":
            issued = await run_sync(c.sources.rotate_url, source_id)
            log.info("service URL rotated", extra={"source": source_id})
            status = 200
        elif action == "rotate-credential":
            issued = await run_sync(c.sources.rotate_credential, source_id)
            log.info("drain credential rotated", extra={"source": source_id})
            status = 200
        else:
            return error(404, "not_found", "Not Found")
    except UnknownSource:
        return error(404, "unknown_source", "no such data source")
    return JSONResponse(issued_json(c.settings, _base_url(request), issued), status_code=status)


# -- operations ------------------------------------------------------------------------------------
async def health(request: Request) -> Response:
    try:
        await _collector(request).queue.head("", "health")
    except Exception:  # any storage failure means "not healthy", never a 500
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    c = _collector(request)
    stats = await c.queue.stats()
    body = await run_sync(c.metrics.render, stats)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
    return JSONResponse(
        {"error": codes.get(exc.status_code, "error"), "message": exc.detail},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The sender hung up mid-body: nothing was stored and nobody reads this answer, but without a handler
    # Starlette would log it as a server error.
    return error(400, "client_disconnected", "the request body was cut off")


class AccessLog:
    """Logs each request with the service-URL token redacted (uvicorn's access log would print it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            path = scope.get("path", "")
            if path.startswith(HOOK_PREFIX):  # not routed here, but never log a token whatever the routing
                path = REDACTED_PATH
            elif len(path) > 200:
                path = path[:200] + "…"
            client = scope.get("client")
            log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": path,
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": client[0] if client else None,
                },
            )


def create_app(
    settings: Settings,
    queue: EventQueue | None = None,
    sources: SourceRegistry | None = None,
    verifier: JwtVerifier | None = None,
) -> CollectorApp:
    """Build the app. Storage defaults to SQLite files in settings.data_dir; tests may inject others."""
    queue = queue or SQLiteEventQueue(settings.queue_path, dedupe_retention_s=settings.dedupe_window_s)
    owns_sources = sources is None
    sources = sources or SQLiteSourceRegistry(settings.sources_path)
    if verifier is None and settings.jwt_enabled:
        verifier = JwtVerifier(settings.jwks_url, settings.jwks_file)
    collector = Collector(settings, queue, sources, Metrics(), verifier)
    service_url = ServiceUrl(collector)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await queue.start()
        log.info("collector started", extra={"data_dir": str(settings.data_dir), "jwt": verifier is not None})
        try:
            yield
        finally:
            # uvicorn has finished the in-flight requests by now; close() still commits queued writes.
            await queue.close()
            service_url.summary.flush()
            if owns_sources and isinstance(sources, SQLiteSourceRegistry):
                sources.close()
            log.info("collector stopped")

    drain = "/v1/sources/{source_id}/partitions/{partition}"
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route(drain + "/head", drain_head, methods=["GET"]),
        Route(drain + "/events", drain_events, methods=["GET"]),
        Route(drain + "/ack", drain_ack, methods=["POST"]),
        Route("/admin/sources", admin, methods=["GET", "POST"]),
        Route("/admin/sources/{source_id}/{action}", admin, methods=["POST"]),
    ]
    handlers = {HTTPException: _http_error, ClientDisconnect: _client_gone}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.state.collector = collector
    app.add_middleware(AccessLog)

    return CollectorApp(app, service_url)


class CollectorApp:
    """Zoho's posts go straight to the service-URL endpoint; everything else (and lifespan) is Starlette's."""

    def __init__(self, starlette: Starlette, service_url: ServiceUrl) -> None:
        self.starlette = starlette
        self.service_url = service_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(HOOK_PREFIX):
            await self.service_url(scope, receive, send)
        else:
            await self.starlette(scope, receive, send)
