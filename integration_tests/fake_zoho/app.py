"""create_app(fake): the Starlette app serving Zoho Accounts' token endpoint, the Desk API and /_fake/ admin."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from integration_tests.fake_zoho import metadata
from integration_tests.fake_zoho.admin import admin_routes
from integration_tests.fake_zoho.facts import Operation, QueryError
from integration_tests.fake_zoho.faults import FAULTS, Fault
from integration_tests.fake_zoho.records import MODULES, STREAMS, Record, make_id, parse_iso
from integration_tests.fake_zoho.state import FakeZoho
from integration_tests.fake_zoho.webhooks import WebhookError

API_PREFIX = "/api/v1"
DEFAULT_LIMIT = 10  # Zoho's long-standing default where the OAS documents none


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """Zoho's error body: {"errorCode", "message"} plus whatever the error adds."""
    return JSONResponse({"errorCode": code, "message": message, **extra}, status_code=status, headers=headers)


def ok(body: Any) -> Response:
    # Compact separators: a 100-ticket page is ~10% smaller and noticeably faster to send.
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


def no_content() -> Response:
    """Zoho's empty list: HTTP 204 with no body at all."""
    return Response(status_code=204)


class DroppedConnection(Response):
    """Announce a body with Content-Length, send part of it, then abort: the client sees a broken connection."""

    def __init__(self) -> None:
        super().__init__()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b'{"data":[', "more_body": True})
        # An exception after the response started makes uvicorn close the socket mid-body.
        raise ConnectionAbortedError("fake_zoho: dropped connection (injected fault)")


def fault_response(fault: Fault) -> Response:
    if fault.kind == "drop":
        return DroppedConnection()
    status, code, message = FAULTS[fault.kind]
    headers = {"Retry-After": str(fault.retry_after)} if fault.kind == "threshold_exceeded" else None
    return error(status, code, message, headers=headers)


def credit_weight(op: Operation, offset: int) -> int:
    """Credits per call (notes section 5): get by id 1; lists 3/5/10/50/100 by how deep the offset is."""
    if op.list_key is None or op.method != "GET":
        return 1
    for ceiling, weight in ((2000, 3), (10_000, 5), (50_000, 10), (100_000, 50)):
        if offset <= ceiling:
            return weight
    return 100


def has_scope(granted: list[str] | None, required: tuple[str, ...]) -> bool:
    """OAS scope lists are alternatives, except that search needs Desk.search.READ plus a module scope."""
    if granted is None or not required:
        return True
    have = set(granted)

    def holds(scope: str) -> bool:
        # Desk.tickets.ALL grants Desk.tickets.READ (Zoho's ALL operation scope).
        return scope in have or scope.rsplit(".", 1)[0] + ".ALL" in have

    if "Desk.search.READ" in required:
        others = [s for s in required if s != "Desk.search.READ"]
        return holds("Desk.search.READ") and (not others or any(holds(s) for s in others))
    return any(holds(s) for s in required)


class DeskApi:
    """Request pipeline for /api/v1: limits, faults, auth, org, scope, licence, query checks, credits."""

    def __init__(self, fake: FakeZoho) -> None:
        self.fake = fake
        self.handlers: dict[str, Callable[[Request, Operation, dict[str, str], dict[str, str]],
                                          Awaitable[Response]]] = {}
        for name, spec in STREAMS.items():
            if spec.parent:
                self.handlers[spec.list_op] = self._children_handler(name)
            elif name == "teams":
                self.handlers[spec.list_op] = self._unpaged_stream_handler(name)
            else:
                self.handlers[spec.list_op] = self._list_handler(name)
            if spec.get_op:
                self.handlers[spec.get_op] = self._get_handler(name)
            if spec.search_op:
                self.handlers[spec.search_op] = self._search_handler(name)
        self.handlers.update({
            "GET /organizations": self.organizations,
            "GET /organizations/{organizationId}": self.organization,
            "GET /organizationFields": self.fields,
            "GET /fields": self.fields,
            "GET /layouts": self.layouts,
            "GET /organizationModules": self.modules,
            "GET /webhooks": self.list_webhooks,
            "GET /webhooks/{webhookId}": self.get_webhook,
            "POST /webhooks": self.create_webhook,
            "PATCH /webhooks/{webhookId}": self.update_webhook,
            "DELETE /webhooks/{webhookId}": self.delete_webhook,
        })
        self.served = {key for key in self.handlers if key in fake.facts.operations}

    async def _handle(self, request: Request) -> Response:
        """Every /api/v1 request, in the order Zoho's gateway checks things."""
        fake = self.fake
        path = "/" + request.path_params["path"]
        found = fake.facts.match(request.method, path, self.served)
        fake.faults.count(request.method, API_PREFIX + (found[0].template if found else path))
        with fake.lock:
            fake.in_flight += 1
            fake.peak_in_flight = max(fake.peak_in_flight, fake.in_flight)
            busy = fake.max_concurrent is not None and fake.in_flight > fake.max_concurrent
        try:
            if fake.latency_ms:
                await asyncio.sleep(fake.latency_ms / 1000)
            if busy:
                return error(429, "TOO_MANY_REQUESTS", "Too many requests are being processed concurrently.")
            fault = fake.faults.take(request.method, request.url.path)
            if fault is not None:
                return fault_response(fault)
            if found is None:
                if fake.facts.path_known(path, self.served):
                    return error(405, "METHOD_NOT_ALLOWED", "The requested method is not allowed for this URL.")
                return error(404, "URL_NOT_FOUND", "The URL you requested could not be found.")
            return await self._serve(request, *found)
        finally:
            with fake.lock:
                fake.in_flight -= 1

    async def handle(self, request: Request) -> Response:
        """Every /api/v1 request; each answer carries the credit headers (0 weight when rejected)."""
        response = await self._handle(request)
        if "X-Rate-Limit-Request-Weight-v3" not in response.headers:
            response.headers["X-Rate-Limit-Request-Weight-v3"] = "0"
            response.headers["X-Rate-Limit-Remaining-v3"] = str(max(self.fake.credits_remaining, 0))
        return response

    async def _serve(self, request: Request, op: Operation, path_params: dict[str, str]) -> Response:
        fake = self.fake
        header = request.headers.get("authorization")
        if not header:
            return error(401, "UNAUTHORIZED", "You are not authenticated to perform this operation.")
        scheme, _, token = header.partition(" ")
        known = fake.accounts.lookup(token.strip()) if (
            scheme == "Zoho-oauthtoken" or (scheme == "Bearer" and fake.accept_bearer)) else None
        if known is None:
            return error(401, "INVALID_OAUTH", "The OAuth Token you provided is invalid.")
        if op.template != "/organizations":  # the one call that lists orgs cannot need an org
            org = request.headers.get("orgId") or request.query_params.get("orgId")
            if not org and fake.require_org_id:
                # OAS Common.json models orgId as a required parameter; Zoho answers a missing
                # required parameter with 422 and an errors[] entry of type "missing".
                return error(422, "UNPROCESSABLE_ENTITY", "The parameter 'orgId' is mandatory.",
                             errors=[{"fieldName": "/orgId", "errorType": "missing",
                                      "errorMessage": "orgId is missing in the request header"}])
            if org and org != known.org_id:
                return error(403, "OAUTH_ORG_MISMATCH", "The OAuthToken is not valid for specified organization")
        if not has_scope(fake.scopes, op.scopes):
            return error(403, "SCOPE_MISMATCH", "The OAuth token does not have the scope to access this resource.")
        # A list of paths is accepted too; the feature name then defaults to the path's first segment.
        unlicensed = fake.unlicensed if isinstance(fake.unlicensed, dict) else {
            p: p.strip("/").split("/")[0].upper() for p in fake.unlicensed}
        for prefix, feature in unlicensed.items():
            if op.template == prefix or op.template.startswith(prefix.rstrip("/") + "/"):
                return error(403, "LICENSE_ACCESS_LIMITED", "This feature is not available in your edition.",
                             feature=feature, editionType=fake.edition, isTrial=False)
        try:
            values = op.validate(list(request.query_params.multi_items()), self._overrides(op))
        except QueryError as exc:
            extra = {"errors": exc.errors} if exc.errors else {}
            return error(422, "UNPROCESSABLE_ENTITY", exc.message, **extra)
        weight = credit_weight(op, int(values.get("from", 0) or 0))
        with fake.lock:
            if fake.credits_remaining < weight:
                return error(429, "THRESHOLD_EXCEEDED", "The API credit limit for your organization is exceeded.",
                             headers={"Retry-After": str(fake.credits_retry_after),
                                      "X-Rate-Limit-Request-Weight-v3": "0",
                                      "X-Rate-Limit-Remaining-v3": str(max(fake.credits_remaining, 0))})
            fake.credits_remaining -= weight
            remaining = fake.credits_remaining
        try:
            response = await self.handlers[op.key](request, op, path_params, values)
        except QueryError as exc:
            response = error(422, "UNPROCESSABLE_ENTITY", exc.message)
        response.headers["X-Rate-Limit-Request-Weight-v3"] = str(weight)
        response.headers["X-Rate-Limit-Remaining-v3"] = str(remaining)
        return response

    def _overrides(self, op: Operation) -> dict[str, dict[str, Any]]:
        overrides: dict[str, dict[str, Any]] = {}
        if op.template.endswith("/search") and "from" in op.query:
            overrides["from"] = {"maximum": self.fake.search_max_from}
        if not self.fake.enforce_required_params:
            # Tolerant mode for the [unconfirmed] departmentId requirement on tasks/calls/events.
            for name, spec in op.query.items():
                if spec.get("required") and name != "module":
                    overrides[name] = {"required": False}
        return overrides

    # ---- rendering ----------------------------------------------------------------------------
    def render(self, stream: str | None, op: Operation, rec: Record) -> Record:
        """The record as this operation returns it: projected to its documented keys, times as configured."""
        props = op.properties
        out = {k: rec[k] for k in props if k in rec} if self.fake.project_records and props else dict(rec)
        if stream in self.fake.epoch_time_streams:
            for name in self.fake.data.factories[stream].time_fields:
                value = out.get(name)
                if isinstance(value, str):
                    out[name] = parse_iso(value)
        return out

    def envelope(self, stream: str | None, op: Operation, records: list[Record], **extra: Any) -> Response:
        if not records:
            return no_content()
        return ok({op.list_key or "data": [self.render(stream, op, r) for r in records], **extra})

    @staticmethod
    def paging(op: Operation, values: dict[str, str]) -> tuple[int, int]:
        """(0-based offset, limit). Where the OAS says `from` starts at 1 (accounts, articles), it is 1-based."""
        base = 1 if op.query.get("from", {}).get("minimum") == 1 else 0
        offset = op.int_param(values, "from", base) - base
        return offset, op.int_param(values, "limit", DEFAULT_LIMIT)

    # ---- record handlers ----------------------------------------------------------------------
    def _list_handler(self, stream: str) -> Callable[..., Awaitable[Response]]:
        async def handle(request: Request, op: Operation, pp: dict[str, str], values: dict[str, str]) -> Response:
            offset, limit = self.paging(op, values)
            department = values.get("departmentId") if STREAMS[stream].by_department else None
            return self.envelope(stream, op, self.fake.data.page(stream, offset, limit, department))

        return handle

    def _unpaged_stream_handler(self, stream: str) -> Callable[..., Awaitable[Response]]:
        async def handle(request: Request, op: Operation, pp: dict[str, str], values: dict[str, str]) -> Response:
            records = self.fake.data.page(stream, 0, self.fake.data.total(stream))
            return self.envelope(stream, op, records)

        return handle

    def _children_handler(self, stream: str) -> Callable[..., Awaitable[Response]]:
        async def handle(request: Request, op: Operation, pp: dict[str, str], values: dict[str, str]) -> Response:
            parent = self.fake.data.index_of("tickets", pp.get("ticketId", ""))
            if parent is None:
                return error(404, "URL_NOT_FOUND", "The URL you requested could not be found.")
            offset, limit = self.paging(op, values)
            records = self.fake.data.children(stream, parent)[offset:offset + limit]
            return self.envelope(stream, op, records)

        return handle

    def _get_handler(self, stream: str) -> Callable[..., Awaitable[Response]]:
        async def handle(request: Request, op: Operation, pp: dict[str, str], values: dict[str, str]) -> Response:
            data = self.fake.data
            if STREAMS[stream].parent and data.index_of("tickets", pp.get("ticketId", "")) is None:
                return error(404, "URL_NOT_FOUND", "The URL you requested could not be found.")
            # The last path parameter is the record's own id (ticketId, threadId, id, ...).
            index = data.index_of(stream, list(pp.values())[-1])
            if index is None or (STREAMS[stream].parent and index // 1000 != data.index_of("tickets", pp["ticketId"])):
                return error(404, "URL_NOT_FOUND", "The URL you requested could not be found.")
            return ok(self.render(stream, op, data.record(stream, index)))

        return handle

    def _search_handler(self, stream: str) -> Callable[..., Awaitable[Response]]:
        async def handle(request: Request, op: Operation, pp: dict[str, str], values: dict[str, str]) -> Response:
            offset, limit = self.paging(op, values)
            records, count = self.fake.data.search(stream, values, offset, limit)
            return self.envelope(stream, op, records, count=count)

        return handle

    # ---- metadata -----------------------------------------------------------------------------
    async def organizations(self, request: Request, op: Operation, pp: dict[str, str],
                            values: dict[str, str]) -> Response:
        org = metadata.organization(self.fake.facts, self.fake.org_id, self.fake.edition)
        return ok({"data": [self.render(None, op, org)]})

    async def organization(self, request: Request, op: Operation, pp: dict[str, str],
                           values: dict[str, str]) -> Response:
        if pp["organizationId"] != self.fake.org_id:
            return error(404, "URL_NOT_FOUND", "The URL you requested could not be found.")
        return ok(self.render(None, op, metadata.organization(self.fake.facts, self.fake.org_id, self.fake.edition)))

    def _module(self, values: dict[str, str]) -> str:
        module = values.get("module", "")
        if module not in MODULES:
            raise QueryError("The value passed for the 'module' query parameter is invalid.")
        return module

    async def fields(self, request: Request, op: Operation, pp: dict[str, str], values: dict[str, str]) -> Response:
        records = metadata.fields(self.fake.facts, self.fake.seed, self._module(values))
        rendered = []
        for rec in records:
            out = self.render(None, op, rec)
            if "allowedValues" in rec:
                out["allowedValues"] = rec["allowedValues"]  # not in the OAS schema, but Zoho sends it
            rendered.append(out)
        return ok({"data": rendered})

    async def layouts(self, request: Request, op: Operation, pp: dict[str, str], values: dict[str, str]) -> Response:
        fake = self.fake
        departments = [make_id(fake.seed, STREAMS["departments"].code, i) for i in range(fake.sizes["departments"])]
        records = metadata.layouts(fake.facts, fake.seed, self._module(values), fake.sizes["layouts"], departments)
        if "departmentId" in values:
            records = [r for r in records if r.get("departmentId") == values["departmentId"]]
        offset, limit = self.paging(op, values)
        return self.envelope(None, op, records[offset:offset + limit])

    async def modules(self, request: Request, op: Operation, pp: dict[str, str], values: dict[str, str]) -> Response:
        return self.envelope(None, op, metadata.modules(self.fake.facts, self.fake.seed))

    # ---- webhooks -----------------------------------------------------------------------------
    async def list_webhooks(self, request: Request, op: Operation, pp: dict[str, str],
                            values: dict[str, str]) -> Response:
        hooks = list(self.fake.webhooks.hooks.values())
        return self.envelope(None, op, hooks)

    async def get_webhook(self, request: Request, op: Operation, pp: dict[str, str],
                          values: dict[str, str]) -> Response:
        hook = self.fake.webhooks.hooks.get(pp["webhookId"])
        if hook is None:
            return error(404, "URL_NOT_FOUND", "The URL you requested could not be found.")
        return ok(hook)

    async def _webhook_call(self, call: Callable[[], Awaitable[Any]]) -> Response:
        try:
            result = await call()
        except WebhookError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        return no_content() if result is None else ok(result)

    @staticmethod
    async def _json_body(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            body = {"errorCode": "INVALID_DATA", "message": "The payload is not valid JSON."}
            raise WebhookError(422, body) from None

    async def create_webhook(self, request: Request, op: Operation, pp: dict[str, str],
                             values: dict[str, str]) -> Response:
        return await self._webhook_call(lambda: self._then(request, lambda body: self.fake.webhooks.create(body)))

    async def update_webhook(self, request: Request, op: Operation, pp: dict[str, str],
                             values: dict[str, str]) -> Response:
        return await self._webhook_call(
            lambda: self._then(request, lambda body: self.fake.webhooks.update(pp["webhookId"], body)))

    async def _then(self, request: Request, call: Callable[[Any], Awaitable[Any]]) -> Any:
        """Parse the JSON body, then run the webhook call (both may raise WebhookError)."""
        return await call(await self._json_body(request))

    async def delete_webhook(self, request: Request, op: Operation, pp: dict[str, str],
                             values: dict[str, str]) -> Response:
        async def delete() -> None:
            self.fake.webhooks.delete(pp["webhookId"])

        return await self._webhook_call(delete)


def token_endpoint(fake: FakeZoho) -> Callable[[Request], Awaitable[Response]]:
    """POST /oauth/v2/token: parameters in the query string (Zoho's examples) or a form body (also works)."""

    async def handle(request: Request) -> Response:
        fake.faults.count("POST", "/oauth/v2/token")
        if fake.latency_ms:
            await asyncio.sleep(fake.latency_ms / 1000)
        fault = fake.faults.take("POST", request.url.path)
        if fault is not None:
            return fault_response(fault)
        params = dict(request.query_params)
        if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
            params.update(parse_qsl((await request.body()).decode("utf-8", "replace")))
        return JSONResponse(fake.accounts.token_endpoint(params))

    return handle


def create_app(fake: FakeZoho) -> Starlette:
    """The whole fake: accounts server, Desk API under /api/v1, JWKS for webhook JWTs, /_fake/ admin."""
    desk = DeskApi(fake)

    async def jwks(request: Request) -> Response:
        return JSONResponse(fake.webhooks.jwks())

    app = Starlette(routes=[
        Route("/oauth/v2/token", token_endpoint(fake), methods=["POST"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        Mount("/_fake", routes=admin_routes(fake)),
        Route(API_PREFIX + "/{path:path}", desk.handle, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
    ])
    app.state.fake = fake
    return app
