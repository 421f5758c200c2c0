"""running_fake_zoho(fake): serve a FakeZoho with uvicorn on 127.0.0.1 in a background thread."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from integration_tests.fake_zoho import defaults
from integration_tests.fake_zoho.app import create_app
from integration_tests.fake_zoho.state import FakeZoho


class _HideInjectedDrops(logging.Filter):
    """An injected dropped connection is an exception by design; keep it out of the test log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, ConnectionAbortedError) and "injected fault" in str(exc))


logging.getLogger("uvicorn.error").addFilter(_HideInjectedDrops())


class FakeZohoServer:
    """A FakeZoho being served; URLs for the connector config and the admin API."""

    def __init__(self, fake: FakeZoho, port: int = 0, host: str = "127.0.0.1") -> None:
        self.fake = fake
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Linux copies TCP_NODELAY to accepted connections; without it every kept-alive response waits
        # ~40 ms for a delayed ACK (Nagle), which makes the fake 20x slower than it is.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        # A client that keeps a connection open must not make stop() hang: cap the graceful shutdown.
        config = uvicorn.Config(create_app(fake), log_level="warning", access_log=False, lifespan="off",
                                timeout_keep_alive=30, timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/v1"

    @property
    def accounts_url(self) -> str:
        """Zoho Accounts base; the token endpoint is accounts_url + /oauth/v2/token."""
        return self.base_url

    @property
    def token_url(self) -> str:
        return self.accounts_url + "/oauth/v2/token"

    def config(self, **overrides: Any) -> dict[str, Any]:
        """A ready connector config pointing at this server (overrides replace top-level keys)."""
        config: dict[str, Any] = {
            "data_center": "US",
            "org_id": self.fake.org_id,
            "credentials": {
                "client_id": defaults.CLIENT_ID,
                "client_secret": defaults.CLIENT_SECRET,
                "refresh_token": defaults.REFRESH_TOKEN,
            },
            "api_url": self.api_url,
            "accounts_url": self.accounts_url,
        }
        config.update(overrides)
        return config

    def start(self) -> FakeZohoServer:
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name=f"fake-zoho-{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake Zoho server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.sock.close()

    def serve_forever(self) -> None:
        """Run in the calling thread until interrupted (used by `python -m integration_tests.fake_zoho`)."""
        self.server.run(sockets=[self.sock])


@contextmanager
def running_fake_zoho(fake: FakeZoho | None = None, port: int = 0) -> Iterator[FakeZohoServer]:
    """Serve `fake` (a default FakeZoho when None) for the duration of the with-block."""
    server = FakeZohoServer(fake or FakeZoho(), port=port).start()
    try:
        yield server
    finally:
        server.stop()
