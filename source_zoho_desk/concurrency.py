"""Concurrent reads within Zoho's per-org concurrency limit: an adaptive request gate and ordered fetch-ahead."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

T = TypeVar("T")
R = TypeVar("R")

logger = logging.getLogger("airbyte")

# After a 429 the limit stays lowered at least this long before it may grow again.
COOLDOWN_SECONDS = 30.0
# Successful calls needed (per allowed slot) before one more slot is allowed again.
GROWTH_PER_SLOT = 20


class RequestGate:
    """At most `limit` Zoho calls in flight. A 429 TOO_MANY_REQUESTS halves the limit (the org's plan allows
    fewer concurrent calls than configured, or other clients share it); sustained success grows it back.

    Each HTTP attempt (retries included) passes the gate, so a lowered limit holds for retries too.
    """

    def __init__(self, maximum: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum = maximum
        self.limit = maximum
        self.peak = 0
        self._in_flight = 0
        self._successes = 0
        self._generation = 0
        self._lowered_at = float("-inf")
        self._clock = clock
        self._cond = threading.Condition()
        self._local = threading.local()

    def acquire(self) -> None:
        with self._cond:
            while self._in_flight >= self.limit:
                self._cond.wait()
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
            self._local.generation = self._generation

    def release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def __enter__(self) -> RequestGate:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def too_many_requests(self) -> None:
        """Called (in the thread that got the 429) for the attempt this thread last sent through the gate."""
        with self._cond:
            if getattr(self._local, "generation", self._generation) != self._generation:
                return  # sent before the last lowering: that burst has already halved the limit
            now = self._clock()
            self._generation += 1
            lowered = max(1, self.limit // 2)
            if lowered < self.limit:
                logger.warning(
                    f"Zoho Desk answered 429 TOO_MANY_REQUESTS: lowering concurrency from {self.limit} to {lowered}."
                )
            self.limit = lowered
            self._lowered_at = now
            self._successes = 0

    def succeeded(self) -> None:
        with self._cond:
            if self.limit >= self.maximum or self._clock() - self._lowered_at < COOLDOWN_SECONDS:
                return
            self._successes += 1
            if self._successes >= GROWTH_PER_SLOT * self.limit:
                self.limit += 1
                self._successes = 0
                self._cond.notify_all()


class GatedAdapter(HTTPAdapter):
    """requests' transport with every send (each retry too) passing the RequestGate."""

    def __init__(self, gate: RequestGate) -> None:
        super().__init__(pool_connections=4, pool_maxsize=gate.maximum + 4)
        self._gate = gate

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        with self._gate:
            return super().send(request, *args, **kwargs)


def ordered_map(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T], window: int) -> Iterator[R]:
    """fn over items with up to `window` calls running ahead; results come out in input order."""
    pending: deque[Future[R]] = deque()
    source = iter(items)
    for item in source:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            break
    while pending:
        result = pending.popleft().result()
        for item in source:
            pending.append(pool.submit(fn, item))
            break
        yield result


class PageFetcher:
    """Fetches the pages of one offset-paged list ahead of the reader, in order.

    Slow start: after k full pages, k+1 pages run ahead (up to `window`), so a one-page table costs one
    call. Once a list runs a full window ahead, every page that lands frees its slot for the next call at
    once, while the reader waits for the head page: a slow head page does not idle the other slots (up to
    2 x window pages may wait, fetched, for the reader). Calls are only ever sent from the reader's thread
    (in `take`, or `refill` between a page's records), so nothing is sent once the reader stops asking.
    An answer that shows the end (HTTP 204 or a short page) stops further calls, so a table wastes at most
    about `window` calls past its end.
    """

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        fetch: Callable[[int], R],
        is_last: Callable[[R], bool],
        start: int,
        step: int,
        window: Callable[[], int],
        max_offset: int | None = None,
        total: Callable[[R], int | None] | None = None,
    ) -> None:
        self._max_offset = max_offset
        self._total = total
        self._pool = pool
        self._fetch = fetch
        self._is_last = is_last
        self._step = step
        self._window = window
        self._pending: deque[tuple[int, Future[R]]] = deque()
        self._checked: set[int] = set()
        self._next_offset = start
        self._first = start
        self._ahead = 1
        self._done = False
        self.expected_offset = start

    def _fill(self) -> None:
        window = max(1, self._window())
        in_flight = sum(1 for _, future in self._pending if not future.done())
        # While ramping up, landed pages count too (after k full pages, k calls ahead, as ever); once the list
        # has proved long, only calls in flight count, and landed pages may wait up to a second window.
        buffered = 2 * window if self._ahead >= window else self._ahead
        while (
            not self._done
            and in_flight < min(self._ahead, window)
            and len(self._pending) < buffered
            and (self._max_offset is None or self._next_offset <= self._max_offset)
        ):
            self._pending.append((self._next_offset, self._pool.submit(self._fetch, self._next_offset)))
            self._next_offset += self._step
            in_flight += 1

    def _note_ends(self) -> None:
        """A landed page that is the last one caps the list there: no call past it is sent."""
        for offset, future in self._pending:
            if offset in self._checked or not future.done():
                continue
            self._checked.add(offset)
            if future.cancelled() or future.exception() is not None:
                continue
            if self._is_last(future.result()):
                self._max_offset = offset if self._max_offset is None else min(self._max_offset, offset)

    def refill(self) -> None:
        """Between pages (the reader's own thread): replace calls that landed since the last look."""
        self._note_ends()
        self._fill()

    def _await_head(self) -> Future[R]:
        head = self._pending[0][1]
        while not head.done():
            wait([future for _, future in self._pending if not future.done()], return_when=FIRST_COMPLETED)
            self.refill()
        return head

    @staticmethod
    def _settle(unneeded: list[tuple[int, Future[R]]]) -> None:
        """Cancel fetches not started yet; let started ones finish, so no call outlives the read."""
        for _, future in unneeded:
            if not future.cancel():
                future.exception()

    def take(self, offset: int) -> R:
        if offset != self.expected_offset:
            raise ValueError(f"page {offset} requested, {self.expected_offset} expected")
        self.refill()
        result = self._await_head().result()
        got, _ = self._pending.popleft()
        assert got == offset
        self._checked.discard(offset)
        total = self._total(result) if self._total is not None else None
        if total is not None:
            # The answer says how many rows there are (search does): fetch no page past them.
            last = self._first + max(0, total - 1)
            self._max_offset = last if self._max_offset is None else min(self._max_offset, last)
            self._settle([pending for pending in self._pending if pending[0] > self._max_offset])
            self._pending = deque(pending for pending in self._pending if pending[0] <= self._max_offset)
        if self._is_last(result):
            self._done = True
            self._settle(list(self._pending))  # pages past the end: their answers (204) are not needed
            self._pending.clear()
        else:
            self._ahead = min(self._ahead + 1, max(1, self._window()))
        self.expected_offset = offset + self._step
        return result
