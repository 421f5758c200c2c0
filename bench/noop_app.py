"""Bench 4's baseline: a no-op Starlette app (one POST route: read the body, answer 200) on the collector's uvicorn.

    python bench/noop_app.py --port P

uvicorn runs with the same settings as `source-zoho-desk collector serve` (source_zoho_desk/collector/cli.py):
one worker, uvicorn's default loop and HTTP implementation, no access log, no server header.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def hook(request: Request) -> Response:
    await request.body()
    return JSONResponse({"stored": 1, "duplicates": 0})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/hooks/{token}", hook, methods=["POST"]), Route("/health", health)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_config=None, server_header=False,
                timeout_graceful_shutdown=30)


if __name__ == "__main__":
    main()
