"""ZohoDeskStream: the one place that knows Zoho Desk's URL, headers, from/limit paging, envelopes and errors."""

from __future__ import annotations

import json
import threading
from abc import ABC
from collections.abc import Iterable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import requests
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler

from source_zoho_desk.concurrency import GatedAdapter, PageFetcher, RequestGate
from source_zoho_desk.config import ZohoDeskConfig
from source_zoho_desk.credits import CreditMeter
from source_zoho_desk.custom_fields import CustomFieldCatalog, CustomFieldCoercer
from source_zoho_desk.errors import ZohoBackoffStrategy, ZohoErrorHandler
from source_zoho_desk.queue_client import QueueClient
from source_zoho_desk.records import RecordShape

REQUEST_TIMEOUT_SECONDS = 120
PAGE_CURSOR_KEYS = ("from", "__ab_full_refresh_sync_complete")

_worker = threading.local()


def _mark_worker() -> None:
    _worker.active = True


def in_worker() -> bool:
    """True inside the fetch pool: work there fetches sequentially, so pool tasks never wait on each other."""
    return getattr(_worker, "active", False)


def fetch_pool(max_concurrency: int) -> ThreadPoolExecutor:
    # A few spare threads so fetch-ahead of a parent list is not starved by child fetches; the gate, not
    # the pool size, bounds the calls in flight.
    return ThreadPoolExecutor(max_concurrency + 2, thread_name_prefix="zoho-fetch", initializer=_mark_worker)


# records emitted between two looks at the fetch-ahead pipeline (a look costs about a microsecond)
REFILL_EVERY = 20


@dataclass(frozen=True)
class StreamContext:
    """What every stream of one sync shares: the config, the single OAuth authenticator, the credit meter."""

    config: ZohoDeskConfig
    authenticator: requests.auth.AuthBase
    meter: CreditMeter
    gate: RequestGate
    pool: ThreadPoolExecutor
    queue: QueueClient | None = None
    # Types each module's `cf` from organizationFields; None keeps `cf` the open object of the schemas.
    custom_fields: CustomFieldCatalog | None = None
    # One "now" per sync, so every stream's polling window ends at the same instant.
    sync_started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def build(
        cls, config: ZohoDeskConfig, authenticator: requests.auth.AuthBase, queue: QueueClient | None = None
    ) -> StreamContext:
        return cls(
            config=config,
            authenticator=authenticator,
            meter=CreditMeter(config.credit_budget),
            gate=RequestGate(config.max_concurrency),
            pool=fetch_pool(config.max_concurrency),
            queue=queue,
        )


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
    ignore_not_found: ClassVar[bool] = False
    skip_forbidden: ClassVar[bool] = True  # False where skipping would silently lose data (search)
    max_offset: ClassVar[int | None] = None  # search answers `from` only up to its ceiling

    def __init__(self, context: StreamContext) -> None:
        self.context = context
        self._fetcher: tuple[str, PageFetcher] | None = None
        super().__init__(authenticator=context.authenticator)
        # The CDK's HttpClient owns the session; route its sends through the shared concurrency gate.
        session, adapter = self._http_client._session, GatedAdapter(context.gate)
        session.mount("https://", adapter)
        session.mount("http://", adapter)

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
        params: dict[str, Any] = dict(self.slice_params(stream_slice or {}))
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
        offset = _offset_of(response)
        total = self._total(response)
        if total is not None and offset - self.first_offset + self.page_size >= total:
            return None  # the answer said how many rows there are: no call for the 204 after them
        return {"from": offset + self.page_size}

    def _total(self, response: requests.Response) -> int | None:
        """The row count a list answer carries (search answers `count`), if any."""
        self._items(response)
        count = getattr(response, "_zoho_count", None)
        return count if isinstance(count, int) and not isinstance(count, bool) else None

    def parse_response(
        self, response: requests.Response, *, stream_slice: Mapping[str, Any] | None = None, **_: Any
    ) -> Iterable[Mapping[str, Any]]:
        fetcher = self._fetcher[1] if self._fetcher is not None else None
        for n, item in enumerate(self._items(response), 1):
            yield self.transform(item, stream_slice or {})
            if fetcher is not None and n % REFILL_EVERY == 0:
                # While this page's records go out, calls that finished meanwhile are replaced with new ones.
                fetcher.refill()

    def transform(
        self, record: MutableMapping[str, Any], stream_slice: Mapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Normalise a raw Zoho record to the stream's schema (times as ISO-8601 UTC, typed custom fields)."""
        record = self.shape.normalise(record)
        if self.cf_coercer is not None:
            self.cf_coercer.coerce_record(record)
        return record

    @cached_property
    def cf_coercer(self) -> CustomFieldCoercer | None:
        catalog = self.context.custom_fields
        return catalog.coercer_for(self.name) if catalog is not None else None

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
            response._zoho_count = body.get("count") if isinstance(body, Mapping) else None  # type: ignore[attr-defined]
        response._zoho_items = items  # type: ignore[attr-defined]
        return items

    def get_json_schema(self) -> Mapping[str, Any]:
        # The CDK asks for the schema once per record; build it once.
        return self._json_schema

    @cached_property
    def _json_schema(self) -> Mapping[str, Any]:
        return self.build_json_schema()

    def build_json_schema(self) -> dict[str, Any]:
        """The schema file, with typed custom fields and a note when the stream is full refresh only."""
        schema = dict(HttpStream.get_json_schema(self))
        if self.context.custom_fields is not None:
            schema = dict(self.context.custom_fields.typed_schema(self.name, schema))
        schema.setdefault(
            "description",
            f"Full refresh only: Zoho Desk offers no change signal (webhook event or search) for {self.name}.",
        )
        return schema

    def _fetch_next_page(
        self,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> tuple[requests.PreparedRequest, requests.Response]:
        """Pages come from a fetch-ahead pipeline when the list is paged and we are not inside the pool."""
        if self.page_size is None or in_worker() or self.context.gate.maximum == 1:
            return self._gated_fetch(stream_slice, stream_state, next_page_token)
        offset = int((next_page_token or {}).get("from", self.first_offset))
        # In resumable full refresh the slice also carries the page cursor; the list is the rest of it.
        partition = {k: v for k, v in (stream_slice or {}).items() if k not in PAGE_CURSOR_KEYS}
        key = json.dumps(partition, sort_keys=True, default=str)
        if self._fetcher is None or self._fetcher[0] != key or self._fetcher[1].expected_offset != offset:
            fetcher = PageFetcher(
                self.context.pool,
                lambda at: self._gated_fetch(stream_slice, stream_state, {"from": at}),
                lambda fetched: self.next_page_token(fetched[1]) is None,
                start=offset,
                step=self.page_size,
                window=lambda: self.context.gate.limit,
                max_offset=self.max_offset,
                total=lambda fetched: self._total(fetched[1]),
            )
            self._fetcher = (key, fetcher)
        return self._fetcher[1].take(offset)

    def _gated_fetch(
        self,
        stream_slice: Mapping[str, Any] | None,
        stream_state: Mapping[str, Any] | None,
        next_page_token: Mapping[str, Any] | None,
    ) -> tuple[requests.PreparedRequest, requests.Response]:
        offset = int((next_page_token or {}).get("from", 0))
        with self.context.meter.reservation(self.name, offset):
            fetched = super()._fetch_next_page(stream_slice, stream_state, next_page_token)
        # Counted here, not when parsed: a page fetched ahead past the end costs credits too.
        self.context.meter.record(self.name, fetched[1])
        self.context.gate.succeeded()
        return fetched

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
            on_too_many_requests=self.context.gate.too_many_requests,
        )

    def get_backoff_strategy(self) -> BackoffStrategy:
        return ZohoBackoffStrategy()


def _offset_of(response: requests.Response) -> int:
    query = parse_qs(urlparse(response.request.url or "").query)
    return int(query.get("from", ["0"])[0])
