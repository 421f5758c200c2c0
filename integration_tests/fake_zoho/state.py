"""FakeZoho: one fake Zoho Desk org (records, tokens, webhooks) and every switch a test can flip."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from integration_tests.fake_zoho import defaults
from integration_tests.fake_zoho.auth import Accounts
from integration_tests.fake_zoho.data import EVENT_KINDS, Dataset
from integration_tests.fake_zoho.facts import Facts, load_facts
from integration_tests.fake_zoho.faults import Fault, Faults
from integration_tests.fake_zoho.records import STREAMS, Record, make_id
from integration_tests.fake_zoho.webhooks import Webhooks

# Switches settable through FakeZoho.configure() and PATCH /_fake/settings (name -> type).
SETTINGS: dict[str, type] = {
    "latency_ms": int,
    "max_concurrent": int,  # None: unlimited
    "credits_remaining": int,
    "credits_retry_after": int,
    "scopes": list,  # None: the token has every scope
    "unlicensed": dict,  # operation path or prefix (e.g. "/contracts") -> feature name; a list works too
    "epoch_time_streams": list,  # streams whose time fields are sent as epoch ms (like the OAS examples)
    "project_records": bool,  # False: send full records instead of the documented per-operation shape
    "require_org_id": bool,
    "accept_bearer": bool,
    "enforce_required_params": bool,
    "search_max_from": int,
    "search_index_delay_ms": int,  # changes reach search only after this delay (Zoho indexes lazily)
    "token_rate_limit": bool,
    "webhook_url_validation": bool,
    "webhook_enabled_limit": int,
    "edition": str,
    "event_time_as_string": bool,  # webhook eventTime "1712345678901" (Zoho's samples) or a number
}


class FakeZoho:
    """A fake Zoho Desk org. Thread-safe: tests mutate it while the server thread serves it."""

    def __init__(self, sizes: dict[str, int] | None = None, seed: int = defaults.SEED,
                 org_id: str = defaults.ORG_ID, clock: Callable[[], float] = time.time,
                 facts: Facts | None = None) -> None:
        self.facts = facts or load_facts()
        self.seed = seed
        self.org_id = org_id
        self.clock = clock
        sizes = dict(sizes or {})
        # Child streams are sized as "at most N per ticket"; everything else is a record count.
        self.children_max = {**defaults.CHILDREN_MAX, **{k: sizes.pop(k) for k in list(sizes)
                                                         if k in defaults.CHILDREN_MAX}}
        self.sizes = {**defaults.SIZES, **sizes}
        self.data = Dataset(self.facts, seed, self.sizes, self.children_max, self.now_ms)
        self.accounts = Accounts(clock=clock, org_id=org_id)
        self.faults = Faults()
        self.webhooks = Webhooks(seed=seed, org_id=org_id, events=self.facts.webhook_events, now_ms=self.now_ms,
                                 creator_id=make_id(seed, STREAMS["agents"].code, 0))
        self.latency_ms = 0
        self.max_concurrent: int | None = None
        self.credits_remaining = defaults.DAILY_CREDITS
        self.credits_retry_after = defaults.CREDITS_RETRY_AFTER_S
        self.scopes: list[str] | None = None
        self.unlicensed: dict[str, str] | list[str] = {}
        self.epoch_time_streams: list[str] = []
        self.project_records = True
        self.require_org_id = True
        self.accept_bearer = False
        self.enforce_required_params = True
        self.search_max_from = defaults.SEARCH_MAX_FROM
        self.event_time_as_string = True
        self.in_flight = 0
        self.peak_in_flight = 0  # most Desk calls ever served at once (tests of the connector's concurrency)
        self.lock = threading.Lock()

    # ---- switches -------------------------------------------------------------------------------
    def configure(self, **settings: Any) -> dict[str, Any]:
        """Set switches by name (see SETTINGS); returns the current values of all of them."""
        for name, value in settings.items():
            if name not in SETTINGS:
                raise ValueError(f"unknown setting {name!r}; known: {sorted(SETTINGS)}")
            setattr(self, name, value)
        return self.settings()

    def settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SETTINGS}

    # Some switches live on the component that uses them; properties keep one flat settings namespace.
    @property
    def token_rate_limit(self) -> bool:
        return self.accounts.token_rate_limit

    @token_rate_limit.setter
    def token_rate_limit(self, value: bool) -> None:
        self.accounts.token_rate_limit = bool(value)

    @property
    def webhook_url_validation(self) -> bool:
        return self.webhooks.validate_urls

    @webhook_url_validation.setter
    def webhook_url_validation(self, value: bool) -> None:
        self.webhooks.validate_urls = bool(value)

    @property
    def webhook_enabled_limit(self) -> int:
        return self.webhooks.enabled_limit

    @webhook_enabled_limit.setter
    def webhook_enabled_limit(self, value: int) -> None:
        self.webhooks.enabled_limit = int(value)

    @property
    def search_index_delay_ms(self) -> int:
        return self.data.search_index_delay_ms

    @search_index_delay_ms.setter
    def search_index_delay_ms(self, value: int) -> None:
        self.data.search_index_delay_ms = int(value)

    @property
    def edition(self) -> str:
        return self.webhooks.edition

    @edition.setter
    def edition(self, value: str) -> None:
        self.webhooks.edition = str(value)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # ---- tokens ---------------------------------------------------------------------------------
    def issue_grant_code(self, ttl: float | None = None) -> str:
        """A fresh single-use grant code (Self Client 'Generate Code')."""
        return self.accounts.issue_grant_code(ttl=ttl)

    def access_token(self) -> str:
        """A valid access token without calling the token endpoint (for direct API tests)."""
        return self.accounts.mint()

    def revoke_refresh_token(self, token: str = defaults.REFRESH_TOKEN) -> None:
        self.accounts.revoke_refresh_token(token)

    def expire_access_tokens(self) -> None:
        self.accounts.expire_access_tokens()

    # ---- faults and counters --------------------------------------------------------------------
    def fail_next(self, kind: str, count: int = 1, path: str = "", method: str | None = None,
                  retry_after: int = 60) -> Fault:
        """Fail the next `count` requests whose path contains `path`.

        kind: too_many_requests (429, no Retry-After), threshold_exceeded (429 + Retry-After),
        server_error (500) or drop (headers with a Content-Length, then the socket closes).
        """
        return self.faults.inject(kind, count, path, method, retry_after)

    def clear_faults(self) -> None:
        self.faults.clear()

    def calls(self) -> dict[str, int]:
        """Requests served so far, keyed "METHOD /api/v1/template" (e.g. "GET /api/v1/tickets")."""
        return self.faults.snapshot()

    def reset_calls(self) -> None:
        self.faults.reset_calls()
        self.peak_in_flight = 0

    # ---- records --------------------------------------------------------------------------------
    def get(self, stream: str, record_id: str) -> Record | None:
        """The current full record, or None when unknown or trashed."""
        index = self.data.index_of(stream, record_id)
        return None if index is None else dict(self.data.record(stream, index))

    def ids(self, stream: str, limit: int = 10) -> list[str]:
        """Ids of the first live records of a top-level stream (handy in tests)."""
        return [r["id"] for r in self.data.page(stream, 0, limit)]

    def create(self, stream: str, ticket_id: str | None = None, **fields: Any) -> Record:
        """Add a record; child streams need the ticket id. createdTime/modifiedTime become now."""
        return self.data.create(stream, fields, parent_id=ticket_id)

    def update(self, stream: str, record_id: str, **fields: Any) -> Record:
        """Change a record; its modifiedTime becomes now, so search windows see it again."""
        return self.data.update(stream, record_id, fields)

    def delete(self, stream: str, record_id: str) -> Record:
        """Trash a record: it disappears from list, search and get-by-id (returns its last state)."""
        return self.data.delete(stream, record_id)

    trash = delete

    def webhook_event(self, stream: str, record_id: str, include_prev_state: bool = True) -> dict[str, Any]:
        """The event Zoho would send for the last change of that record.

        payload is the full current record (only the id for deletes); prevState is sent for updates
        when the subscription asked for it. eventTime is epoch ms, a string as in Zoho's samples unless
        event_time_as_string is switched off.
        """
        spec = STREAMS[stream]
        change = self.data.last_change(stream, record_id)
        if spec.event is None:
            raise ValueError(f"Zoho sends no webhook events for {stream}")
        event_type = f"{spec.event}_{EVENT_KINDS[change.kind]}"
        if event_type not in self.facts.webhook_events:
            raise ValueError(f"Zoho has no {event_type} event")
        event: dict[str, Any] = {
            "eventType": event_type,
            "eventTime": str(change.at_ms) if self.event_time_as_string else change.at_ms,
            "orgId": self.org_id,
            "payload": dict(change.record),
        }
        if change.kind == "update" and include_prev_state:
            event["prevState"] = dict(change.prev or {})
        return event

    def deliver(self, events: list[dict[str, Any]]) -> list[tuple[str, int | str]]:
        """POST events to every enabled, subscribed webhook, signed with X-ZDesk-JWT like Zoho."""
        return self.webhooks.deliver(events)
