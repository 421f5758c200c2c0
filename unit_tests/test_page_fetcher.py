"""PageFetcher: pages in order, slots refilled while the head page is slow, no call past a known end."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from source_zoho_desk.concurrency import PageFetcher

STEP = 10


class FakeList:
    """A list of `pages` pages; `slow` pages take longer. Records when each call started and ended."""

    def __init__(self, pages: int, slow: dict[int, float] | None = None) -> None:
        self.pages = pages
        self.slow = slow or {}
        self.calls: dict[int, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def fetch(self, offset: int) -> int:
        started = time.monotonic()
        time.sleep(self.slow.get(offset, 0.01))
        with self.lock:
            self.calls[offset] = (started, time.monotonic())
        return offset if offset < self.pages * STEP else -1  # -1: past the end (a 204)

    @staticmethod
    def is_last(result: int) -> bool:
        return result == -1


def _read(fake: FakeList, window: int) -> list[int]:
    with ThreadPoolExecutor(2 * window + 2) as pool:
        fetcher = PageFetcher(pool, fake.fetch, fake.is_last, start=0, step=STEP, window=lambda: window)
        got, offset = [], 0
        while True:
            result = fetcher.take(offset)
            if fake.is_last(result):
                return got
            got.append(result)
            offset += STEP


def test_pages_come_out_in_order_and_the_end_stops_the_calls():
    fake = FakeList(pages=30)
    assert _read(fake, window=4) == [i * STEP for i in range(30)]
    past_end = [o for o in fake.calls if o > 30 * STEP]
    assert len(past_end) <= 4  # about one window of calls past the end, never more


def test_a_slow_head_page_does_not_idle_the_other_slots():
    window = 4
    slow_offset = 8 * STEP  # by then the slow start has reached the full window
    fake = FakeList(pages=40, slow={slow_offset: 0.5})
    assert _read(fake, window) == [i * STEP for i in range(40)]
    head_start, head_end = fake.calls[slow_offset]
    sent_meanwhile = [o for o, (start, _) in fake.calls.items() if o > slow_offset and head_start < start < head_end]
    # Holding finished pages for the reader, the other slots kept working: more calls than the window went out
    # while the head page was outstanding (a fetcher that counts finished pages against the window sends
    # window - 1 and then idles).
    assert len(sent_meanwhile) >= 2 * window - 2


def test_a_one_page_list_costs_one_call():
    fake = FakeList(pages=0)
    assert _read(fake, window=8) == []
    assert list(fake.calls) == [0]
