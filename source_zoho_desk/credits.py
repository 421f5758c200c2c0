"""Counts the API credits a sync spends, per stream, from Zoho's X-Rate-Limit-*-v3 response headers."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

WEIGHT_HEADER = "X-Rate-Limit-Request-Weight-v3"
REMAINING_HEADER = "X-Rate-Limit-Remaining-v3"


# Zoho's price of one list call by the offset it starts at (the notes, §5: "Credit Consumption Model").
CREDIT_TIERS = ((2_000, 3), (10_000, 5), (50_000, 10), (100_000, 50))
CREDITS_ABOVE_TIERS = 100


def list_call_credits(offset: int) -> int:
    for upper, credits in CREDIT_TIERS:
        if offset <= upper:
            return credits
    return CREDITS_ABOVE_TIERS


class CreditBudgetExhausted(AirbyteTracedException):
    """The next call would spend more than `credit_budget`: stop before it, keeping the state saved so far."""


@dataclass
class StreamUsage:
    calls: int = 0
    credits: int = 0


class CreditMeter:
    """Shared by every stream of one sync; thread-safe because streams may be read concurrently."""

    def __init__(self, budget: int | None = None) -> None:
        self._usage: dict[str, StreamUsage] = defaultdict(StreamUsage)
        self._remaining: int | None = None
        self._reserved = 0
        self.budget = budget
        self._lock = threading.Lock()

    @contextmanager
    def reservation(self, stream: str, offset: int) -> Iterator[None]:
        """Hold the estimated price of one call while it is in flight; refuse it if the budget would burst."""
        cost = list_call_credits(offset)
        with self._lock:
            spent = sum(u.credits for u in self._usage.values())
            if self.budget is not None and spent + self._reserved + cost > self.budget:
                raise CreditBudgetExhausted(
                    message=(
                        f"Stopped before exceeding credit_budget ({self.budget} credits): this sync has spent {spent}"
                        f" and the next call of stream {stream} would cost about {cost}. The state saved so far is "
                        "kept; the next sync resumes from it. Raise credit_budget to sync more per run."
                    ),
                    failure_type=FailureType.transient_error,
                )
            self._reserved += cost
        try:
            yield
        finally:
            with self._lock:
                self._reserved -= cost

    def record(self, stream: str, response: requests.Response) -> None:
        weight = _int_header(response, WEIGHT_HEADER)
        remaining = _int_header(response, REMAINING_HEADER)
        with self._lock:
            usage = self._usage[stream]
            usage.calls += 1
            usage.credits += weight or 0
            if remaining is not None:
                # Answers of concurrent calls arrive out of order; the balance only falls during a sync.
                self._remaining = remaining if self._remaining is None else min(self._remaining, remaining)

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
