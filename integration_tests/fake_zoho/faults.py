"""Fault injection and call accounting: fail the next N matching requests, count calls per route."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

# kind -> (HTTP status, Zoho errorCode, message). "drop" has no response at all.
FAULTS: dict[str, tuple[int, str, str]] = {
    "too_many_requests": (429, "TOO_MANY_REQUESTS", "Too many requests are being processed concurrently."),
    "threshold_exceeded": (429, "THRESHOLD_EXCEEDED", "The API credit limit for your organization is exceeded."),
    "server_error": (500, "INTERNAL_SERVER_ERROR", "Internal Server Error"),
    "drop": (0, "", ""),
}


@dataclass
class Fault:
    """Fail the next `remaining` requests whose path contains `path` (any path when empty)."""

    kind: str
    remaining: int
    path: str = ""
    method: str | None = None
    retry_after: int = 60  # seconds, sent with threshold_exceeded only


class Faults:
    """Pending faults and per-route call counters; both safe to use from the test thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: list[Fault] = []
        self.calls: Counter[str] = Counter()

    def inject(self, kind: str, count: int = 1, path: str = "", method: str | None = None,
               retry_after: int = 60) -> Fault:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; use one of {sorted(FAULTS)}")
        fault = Fault(kind, count, path, method.upper() if method else None, retry_after)
        with self.lock:
            self.pending.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.pending.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first pending fault matching this request, consuming one of its uses."""
        with self.lock:
            for fault in self.pending:
                if fault.path in path and (fault.method is None or fault.method == method):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.pending.remove(fault)
                    return fault
        return None

    def count(self, method: str, template: str) -> None:
        with self.lock:
            self.calls[f"{method} {template}"] += 1

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.calls)

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()
