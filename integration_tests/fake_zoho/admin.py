"""/_fake/ admin API: drive a FakeZoho running in another process (faults, switches, mutations, counters)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from integration_tests.fake_zoho.state import FakeZoho

Handler = Callable[[Request], Awaitable[Response]]


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value


def _guard(fn: Callable[[Request], Awaitable[Any]]) -> Handler:
    """Admin errors are the test author's: answer 400/404 with the reason instead of a 500."""

    async def handle(request: Request) -> Response:
        try:
            result = await fn(request)
        except KeyError as exc:
            return JSONResponse({"error": str(exc).strip("'\"")}, status_code=404)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return result if isinstance(result, Response) else JSONResponse(result)

    return handle


def admin_routes(fake: FakeZoho) -> list[Route]:
    """Routes mounted under /_fake (no auth: the fake only listens on 127.0.0.1)."""

    async def calls(request: Request) -> Any:
        if request.method == "DELETE":
            fake.reset_calls()
        return fake.calls()

    async def faults(request: Request) -> Any:
        if request.method == "DELETE":
            fake.clear_faults()
            return {"pending": []}
        body = await _body(request)
        fake.fail_next(body.pop("kind"), **body)
        return {"pending": [vars(f) for f in fake.faults.pending]}

    async def settings(request: Request) -> Any:
        if request.method == "PATCH":
            return fake.configure(**await _body(request))
        return fake.settings()

    async def expire_tokens(request: Request) -> Any:
        fake.expire_access_tokens()
        return {"expired": True}

    async def revoke(request: Request) -> Any:
        body = await _body(request)
        fake.revoke_refresh_token(**body)
        return {"revoked": True}

    async def grant_code(request: Request) -> Any:
        body = await _body(request)
        return {"code": fake.issue_grant_code(ttl=body.get("ttl"))}

    async def access_token(request: Request) -> Any:
        return {"access_token": fake.access_token()}

    async def create(request: Request) -> Any:
        stream = request.path_params["stream"]
        body = await _body(request)
        record = fake.create(stream, **body)
        return {"record": record, "event": _event(stream, record["id"])}

    async def record(request: Request) -> Any:
        stream, record_id = request.path_params["stream"], request.path_params["record_id"]
        if request.method == "GET":
            found = fake.get(stream, record_id)
            if found is None:
                raise KeyError(f"no live {stream} record {record_id}")
            return found
        if request.method == "PATCH":
            record = fake.update(stream, record_id, **await _body(request))
        else:
            record = fake.delete(stream, record_id)
        return {"record": record, "event": _event(stream, record_id)}

    def _event(stream: str, record_id: str) -> dict[str, Any] | None:
        try:
            return fake.webhook_event(stream, record_id)
        except ValueError:
            return None  # the change has no Zoho event (e.g. departments cannot be deleted)

    async def ids(request: Request) -> Any:
        limit = int(request.query_params.get("limit", "10"))
        return {"ids": fake.ids(request.path_params["stream"], limit)}

    async def deliver(request: Request) -> Any:
        body = await _body(request)
        # Delivery uses a blocking client; keep it off the event loop that also serves the API.
        return {"results": await run_in_threadpool(fake.deliver, body["events"])}

    return [
        Route("/calls", _guard(calls), methods=["GET", "DELETE"]),
        Route("/faults", _guard(faults), methods=["POST", "DELETE"]),
        Route("/settings", _guard(settings), methods=["GET", "PATCH"]),
        Route("/expire_tokens", _guard(expire_tokens), methods=["POST"]),
        Route("/revoke_refresh_token", _guard(revoke), methods=["POST"]),
        Route("/grant_codes", _guard(grant_code), methods=["POST"]),
        Route("/access_token", _guard(access_token), methods=["POST"]),
        Route("/records/{stream}", _guard(create), methods=["POST"]),
        Route("/records/{stream}/ids", _guard(ids), methods=["GET"]),
        Route("/records/{stream}/{record_id}", _guard(record), methods=["GET", "PATCH", "DELETE"]),
        Route("/deliver", _guard(deliver), methods=["POST"]),
    ]
