"""Collector settings: one typed, immutable view of the CLI flags and ZOHO_COLLECTOR_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "ZOHO_COLLECTOR_"
DEFAULT_BODY_LIMIT = 5 * 1024 * 1024  # full ticket payloads in a batch; Zoho documents no maximum
DEFAULT_PAGE_LIMIT = 1000
MAX_PAGE_LIMIT = 5000


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(ENV_PREFIX + name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./collector-data")
    public_base_url: str | None = None
    host: str = "0.0.0.0"
    port: int = 80
    tls_cert: Path | None = None
    tls_key: Path | None = None
    body_limit: int = DEFAULT_BODY_LIMIT
    proxy_headers: bool = False
    forwarded_allow_ips: str = "127.0.0.1"
    # Admin endpoints are off unless a token is configured: the CLI covers the same needs locally.
    admin_token: str | None = field(default=None, repr=False)
    jwks_url: str | None = None
    jwks_file: Path | None = None
    graceful_shutdown_s: float = 30.0
    # How long the key of an acknowledged event is remembered, so a late Zoho retry is still a duplicate.
    dedupe_window_s: float = 7 * 86400
    log_level: str = "INFO"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    @property
    def sources_path(self) -> Path:
        return self.data_dir / "sources.db"

    @property
    def jwt_enabled(self) -> bool:
        return bool(self.jwks_url or self.jwks_file)

    def service_url(self, base_url: str, token: str) -> str:
        return f"{base_url.rstrip('/')}/hooks/{token}"
