"""The seam between the source and the webhook collector: read (drain) and acknowledge queued events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple
from urllib.parse import quote

import orjson
import requests

_AUTH_HINT = {
    401: "the collector rejected the drain credential for this data source: check "
    "incremental.collector_credential and incremental.data_source_id",
    403: "the collector refused access: check incremental.collector_credential and incremental.data_source_id",
    404: "the collector has no drain API at this address: check incremental.collector_url "
    "(the collector's base URL, not the service URL given to Zoho)",
}


class CollectorError(Exception):
    """Base of the errors QueueClient raises."""


class CollectorAuthError(CollectorError):
    """A configuration problem: retrying will not help; the message names the config field to check."""


class CollectorUnavailable(CollectorError):
    """The collector could not be reached or failed (after retries); a later sync may succeed."""


class CollectorProtocolError(CollectorError):
    """The collector answered something this client does not understand (e.g. a request it rejected)."""


class QueuedEvent(NamedTuple):
    """One event as the drain API hands it out (a NamedTuple: a drain builds one per event, and a frozen
    dataclass's __init__ costs several times more)."""

    seq: int
    event_type: str
    event_time_ms: int
    org_id: str
    payload: Any
    prev_state: Any
    received_at: int  # epoch ms the collector stored the event


class QueueClient:
    def __init__(
        self,
        collector_url: str,
        credential: str,
        data_source_id: str,
        *,
        timeout_s: float = 30.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        session: requests.Session | None = None,
    ) -> None:
        self.base = collector_url.rstrip("/")
        self.data_source_id = data_source_id
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Bearer {credential}"

    def _url(self, partition: str, action: str) -> str:
        source, part = quote(self.data_source_id, safe=""), quote(partition, safe="")
        return f"{self.base}/v1/sources/{source}/partitions/{part}/{action}"

    def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        last: str = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self.session.request(method, url, timeout=self.timeout_s, **kwargs)
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in _AUTH_HINT:
                raise CollectorAuthError(f"{_AUTH_HINT[response.status_code]} (HTTP {response.status_code} at {url})")
            # 429/5xx are the collector's transient states (e.g. 503 storage unavailable): retry.
            if response.status_code == 429 or response.status_code >= 500:
                last = f"HTTP {response.status_code}"
                continue
            if response.status_code == 409:
                # An ack beyond every seq the collector ever handed out: the state comes from another
                # queue (collector data dir reset or replaced). Going on would skip the new queue's events.
                raise CollectorProtocolError(
                    f"the saved state is ahead of the collector's queue ({response.text[:200]}): was the collector's "
                    "data directory reset, or incremental.collector_url / incremental.data_source_id changed? "
                    "Reset this connection's state to resync."
                )
            if response.status_code != 200:
                raise CollectorProtocolError(f"HTTP {response.status_code} from {url}: {response.text[:300]}")
            try:
                return orjson.loads(response.content)  # drain pages are large; orjson parses them ~4x faster
            except ValueError as exc:
                raise CollectorProtocolError(f"{url} did not answer JSON") from exc
        raise CollectorUnavailable(
            f"the collector at {self.base} is unavailable after {self.retries + 1} attempts ({last}): "
            "check that it runs and that incremental.collector_url points to it"
        )

    def head(self, partition: str) -> int:
        """Highest sequence number the partition ever held (0 if none)."""
        return int(self._call("GET", self._url(partition, "head"))["head_seq"])

    def drain(self, partition: str, after_seq: int, limit: int) -> list[QueuedEvent]:
        """Up to `limit` events with seq > after_seq, in seq order. Nothing is removed by reading."""
        body = self._call("GET", self._url(partition, "events"), params={"after_seq": after_seq, "limit": limit})
        return [
            QueuedEvent(
                seq=e["seq"],
                event_type=e["event_type"],
                event_time_ms=e["event_time_ms"],
                org_id=e["org_id"],
                payload=e["payload"],
                prev_state=e["prev_state"],
                received_at=e["received_at_ms"],
            )
            for e in body["events"]
        ]

    def iter_events(self, partition: str, after_seq: int, page_size: int = 1000) -> Iterator[QueuedEvent]:
        """Every event after `after_seq`, page by page, until the queue has no more.

        The next page is fetched while the caller works through the current one.
        """
        with ThreadPoolExecutor(1, thread_name_prefix="collector-drain") as pool:
            page = self.drain(partition, after_seq, page_size)
            while True:
                following = None
                if len(page) == page_size:
                    following = pool.submit(self.drain, partition, page[-1].seq, page_size)
                yield from page
                if following is None:
                    return
                page = following.result()

    def acknowledge(self, partition: str, upto_seq: int) -> None:
        """Tell the collector Airbyte committed everything up to `upto_seq`; it may delete those events."""
        self._call("POST", self._url(partition, "ack"), data=json.dumps({"upto_seq": upto_seq}),
                   headers={"Content-Type": "application/json"})
