"""Counts the API credits a sync spends, per stream, from Zoho's X-Rate-Limit-*-v3 response headers."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass

import requests

WEIGHT_HEADER = "X-Rate-Limit-Request-Weight-v3"
REMAINING_HEADER = "X-Rate-Limit-Remaining-v3"


@dataclass
class StreamUsage:
    calls: int = 0
    credits: int = 0


class CreditMeter:
    """Shared by every stream of one sync; thread-safe because streams may be read concurrently."""

    def __init__(self) -> None:
        self._usage: dict[str, StreamUsage] = defaultdict(StreamUsage)
        self._remaining: int | None = None
        self._lock = threading.Lock()

    def record(self, stream: str, response: requests.Response) -> None:
        weight = _int_header(response, WEIGHT_HEADER)
        remaining = _int_header(response, REMAINING_HEADER)
        with self._lock:
            usage = self._usage[stream]
            usage.calls += 1
            usage.credits += weight or 0
            if remaining is not None:
                self._remaining = remaining

    @property
    def total_credits(self) -> int:
        with self._lock:
            return sum(u.credits for u in self._usage.values())

    @property
    def total_calls(self) -> int:
        with self._lock:
            return sum(u.calls for u in self._usage.values())

    def usage(self, stream: str) -> StreamUsage:
        with self._lock:
            return StreamUsage(**vars(self._usage[stream])) if stream in self._usage else StreamUsage()

    def log_summary(self, logger: logging.Logger) -> None:
        with self._lock:
            lines = [f"{name}: {u.credits} credits in {u.calls} calls" for name, u in sorted(self._usage.items())]
            remaining = self._remaining
        total = sum(u.credits for u in self._usage.values())
        left = f"; {remaining} credits left today" if remaining is not None else ""
        logger.info(f"Zoho Desk API credits used by this sync: {total}{left}. " + "; ".join(lines))


def _int_header(response: requests.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None
