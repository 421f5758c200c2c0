"""The fake Zoho Accounts server: clients, grant codes, refresh and access tokens, and the token-rate limit."""

from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from integration_tests.fake_zoho import defaults


@dataclass
class AccessToken:
    """An access token and what it may do."""

    refresh_token: str
    org_id: str
    expires_at: float


@dataclass
class Accounts:
    """Token state. `clock` returns seconds (time.time by default) so tests can move time."""

    clock: Callable[[], float]
    org_id: str = defaults.ORG_ID
    clients: dict[str, str] = field(default_factory=lambda: {defaults.CLIENT_ID: defaults.CLIENT_SECRET})
    access_token_ttl: float = defaults.ACCESS_TOKEN_TTL_S
    grant_code_ttl: float = defaults.GRANT_CODE_TTL_S
    token_rate_limit: bool = True  # benchmarks switch this off: they mint more than 10 tokens per 10 min
    tokens_per_window: int = defaults.TOKENS_PER_WINDOW
    token_window: float = defaults.TOKEN_WINDOW_S

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.refresh_tokens: dict[str, str] = {defaults.REFRESH_TOKEN: defaults.CLIENT_ID}  # token -> client
        self.grant_codes: dict[str, tuple[str, float]] = {}  # code -> (client, expires_at)
        self.access_tokens: dict[str, AccessToken] = {}
        self.minted: dict[str, deque[float]] = {}
        self.issue_grant_code(defaults.GRANT_CODE)

    def issue_grant_code(self, code: str | None = None, ttl: float | None = None,
                         client_id: str = defaults.CLIENT_ID) -> str:
        """A Self Client grant code: single use, valid for `ttl` seconds (Zoho's default is 3 minutes)."""
        code = code or "1000." + secrets.token_hex(16) + "." + secrets.token_hex(16)
        with self.lock:
            self.grant_codes[code] = (client_id, self.clock() + (self.grant_code_ttl if ttl is None else ttl))
        return code

    def add_refresh_token(self, token: str | None = None, client_id: str = defaults.CLIENT_ID) -> str:
        token = token or "1000." + secrets.token_hex(16) + "." + secrets.token_hex(16)
        with self.lock:
            self.refresh_tokens[token] = client_id
        return token

    def revoke_refresh_token(self, token: str = defaults.REFRESH_TOKEN) -> None:
        """Revoke a refresh token and every access token minted from it (as revoking in Zoho does)."""
        with self.lock:
            self.refresh_tokens.pop(token, None)
            for key in [k for k, v in self.access_tokens.items() if v.refresh_token == token]:
                del self.access_tokens[key]

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working now."""
        with self.lock:
            self.access_tokens.clear()

    def mint(self, refresh_token: str = defaults.REFRESH_TOKEN) -> str:
        """An access token for tests that talk to the API without the token endpoint."""
        token = "1000." + secrets.token_hex(16) + "." + secrets.token_hex(16)
        with self.lock:
            self.access_tokens[token] = AccessToken(refresh_token, self.org_id, self.clock() + self.access_token_ttl)
        return token

    def lookup(self, token: str) -> AccessToken | None:
        with self.lock:
            found = self.access_tokens.get(token)
            if found is not None and found.expires_at <= self.clock():
                del self.access_tokens[token]
                return None
            return found

    def token_endpoint(self, params: dict[str, str]) -> dict[str, object]:
        """Body of POST /oauth/v2/token. Zoho answers errors with HTTP 200 too (notes section 2)."""
        client_id = params.get("client_id", "")
        if client_id not in self.clients:
            return {"error": "invalid_client"}
        if params.get("client_secret") != self.clients[client_id]:
            return {"error": "invalid_client_secret"}
        grant_type = params.get("grant_type")
        now = self.clock()
        with self.lock:
            if grant_type == "refresh_token":
                refresh = params.get("refresh_token", "")
                if self.refresh_tokens.get(refresh) != client_id:
                    return {"error": "invalid_code"}
                if not self._may_mint(refresh, now):
                    return {"error": "Access Denied"}
                return self._issue(refresh, now)
            if grant_type == "authorization_code":
                code = params.get("code", "")
                entry = self.grant_codes.pop(code, None)  # single use: gone even when expired
                if entry is None or entry[0] != client_id or entry[1] <= now:
                    return {"error": "invalid_code"}
                refresh = "1000." + secrets.token_hex(16) + "." + secrets.token_hex(16)
                self.refresh_tokens[refresh] = client_id
                self._may_mint(refresh, now)
                return {**self._issue(refresh, now), "refresh_token": refresh}
        return {"error": "unsupported_grant_type"}

    def _may_mint(self, refresh: str, now: float) -> bool:
        window = self.minted.setdefault(refresh, deque())
        while window and window[0] <= now - self.token_window:
            window.popleft()
        if self.token_rate_limit and len(window) >= self.tokens_per_window:
            return False
        window.append(now)
        return True

    def _issue(self, refresh: str, now: float) -> dict[str, object]:
        token = "1000." + secrets.token_hex(16) + "." + secrets.token_hex(16)
        self.access_tokens[token] = AccessToken(refresh, self.org_id, now + self.access_token_ttl)
        return {
            "access_token": token,
            "api_domain": defaults.API_DOMAIN,
            "token_type": "Bearer",
            "expires_in": int(self.access_token_ttl),
        }
