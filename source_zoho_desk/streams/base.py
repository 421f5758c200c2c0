"""ZohoDeskStream: the one place that knows Zoho Desk's URL, headers, from/limit paging, envelopes and errors."""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import requests
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler

from source_zoho_desk.config import ZohoDeskConfig
from source_zoho_desk.credits import CreditMeter
from source_zoho_desk.errors import ZohoBackoffStrategy, ZohoErrorHandler
from source_zoho_desk.queue_client import QueueClient
from source_zoho_desk.records import RecordShape

REQUEST_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class StreamContext:
    """What every stream of one sync shares: the config, the single OAuth authenticator, the credit meter."""

    config: ZohoDeskConfig
    authenticator: requests.auth.AuthBase
    meter: CreditMeter
    queue: QueueClient | None = None
    # One "now" per sync, so every stream's polling window ends at the same instant.
    sync_started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class ZohoDeskStream(HttpStream, ABC):
    """A Zoho Desk list endpoint. Subclasses declare name, path, page_limit and the scope they need.

    Paging is Zoho's: `from` is a 0-based offset, `limit` the page size (capped at the endpoint's
    maximum from the OAS); the list ends on HTTP 204 with an empty body or on a short page.
    """

    primary_key: ClassVar[str | list[str]] = "id"
    path_template: ClassVar[str]
    list_key: ClassVar[str] = "data"
    page_limit: ClassVar[int | None] = 100  # None: the endpoint rejects from/limit (one page holds all)
    page_minimum: ClassVar[int] = 1  # /agents rejects a limit below 10
    first_offset: ClassVar[int] = 0  # the OAS gives /accounts and /articles a 1-based `from`
    scope: ClassVar[str] = "Desk.basic.READ"
    static_params: ClassVar[Mapping[str, str]] = {}
    ignore_not_found: ClassVar[bool] = False
    skip_forbidden: ClassVar[bool] = True  # False where skipping would silently lose data (search)

    def __init__(self, context: StreamContext) -> None:
        self.context = context
        super().__init__(authenticator=context.authenticator)

    @property
    def url_base(self) -> str:
        return self.context.config.api_url + "/"

    @property
    def page_size(self) -> int | None:
        if self.page_limit is None:
            return None
        return max(self.page_minimum, min(self.context.config.page_size, self.page_limit))

    def path(self, *, stream_slice: Mapping[str, Any] | None = None, **_: Any) -> str:
        return self.path_template.format(**(stream_slice or {}))

    def request_headers(self, **_: Any) -> Mapping[str, Any]:
        return {"orgId": self.context.config.org_id}

    def request_kwargs(self, **_: Any) -> Mapping[str, Any]:
        return {"timeout": REQUEST_TIMEOUT_SECONDS}

    def request_params(
        self,
        stream_state: Mapping[str, Any] | None,
        stream_slice: Mapping[str, Any] | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> MutableMapping[str, Any]:
        params: dict[str, Any] = dict(self.static_params)
        params.update(self.slice_params(stream_slice or {}))
        if self.page_size is not None:
            params["from"] = (next_page_token or {}).get("from", self.first_offset)
            params["limit"] = self.page_size
        return params

    def slice_params(self, stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        """Query parameters a slice adds (e.g. module=tickets); path parameters go through path_template."""
        return {}

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        if self.page_size is None or response.status_code == 204:
            return None
        if len(self._items(response)) < self.page_size:
            return None
        return {"from": _offset_of(response) + self.page_size}

    def parse_response(
        self, response: requests.Response, *, stream_slice: Mapping[str, Any] | None = None, **_: Any
    ) -> Iterable[Mapping[str, Any]]:
        self.context.meter.record(self.name, response)
        for item in self._items(response):
            yield self.transform(item, stream_slice or {})

    def transform(self, record: MutableMapping[str, Any], stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        """Normalise a raw Zoho record to the stream's schema (times as ISO-8601 UTC)."""
        return self.shape.normalise(record)

    @cached_property
    def shape(self) -> RecordShape:
        return RecordShape.from_schema(self.get_json_schema())

    def _items(self, response: requests.Response) -> list[MutableMapping[str, Any]]:
        # parse_response and next_page_token both need the page; parse its JSON once.
        cached = getattr(response, "_zoho_items", None)
        if cached is not None:
            return cached
        items: list[MutableMapping[str, Any]] = []
        if response.ok and response.status_code != 204 and response.content:
            body = response.json()
            raw = body.get(self.list_key, body.get("data")) if isinstance(body, Mapping) else body
            items = [item for item in raw or [] if isinstance(item, Mapping)]
        response._zoho_items = items  # type: ignore[attr-defined]
        return items

    def get_json_schema(self) -> Mapping[str, Any]:
        schema = dict(super().get_json_schema())
        schema.setdefault(
            "description",
            f"Full refresh only: Zoho Desk offers no change signal (webhook event or search) for {self.name}.",
        )
        return schema

    def read_all(self, stream_slice: Mapping[str, Any] | None = None) -> Iterable[Mapping[str, Any]]:
        """Every page of one slice, outside Airbyte's per-page checkpointing (used to walk parent tables)."""
        yield from self._read_pages(
            lambda _request, response, _state, _slice: self.parse_response(response, stream_slice=_slice),
            stream_slice,
            {},
        )

    def get_error_handler(self) -> ErrorHandler:
        return ZohoErrorHandler(
            self.logger,
            self.name,
            self.scope,
            ignore_not_found=self.ignore_not_found,
            skip_forbidden=self.skip_forbidden,
        )

    def get_backoff_strategy(self) -> BackoffStrategy:
        return ZohoBackoffStrategy()


def _offset_of(response: requests.Response) -> int:
    query = parse_qs(urlparse(response.request.url or "").query)
    return int(query.get("from", ["0"])[0])
