"""SQLiteEventQueue: durable appends, ordering, duplicates, acknowledgement and isolation between sources."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from source_zoho_desk.collector.events import normalise
from source_zoho_desk.collector.queue import AckBeyondHead, QueueUnavailable, SQLiteEventQueue


def ev(event_type="Ticket_Update", entity="1", t=1, org="1"):
    return normalise({"eventType": event_type, "eventTime": t, "orgId": org, "payload": {"id": entity}}, org, 0)


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "q.db"


async def with_queue(path, body):
    q = SQLiteEventQueue(path)
    await q.start()
    try:
        return await body(q)
    finally:
        await q.close()


def test_append_read_in_order_by_partition(path):
    async def body(q):
        r = await q.append("a", [ev(t=1), ev("Contact_Add", t=2), ev(t=3), ev("Nope_Add", t=4)], 100)
        assert (r.stored, r.duplicates, r.by_partition) == (4, 0, {"tickets": 2, "contacts": 1, "unknown": 1})
        tickets = await q.read("a", "tickets", 0, 10)
        assert [e.event_time_ms for e in tickets] == [1, 3]
        assert tickets[0].seq < tickets[1].seq
        assert [e.event_type for e in await q.read("a", "unknown", 0, 10)] == ["Nope_Add"]
        assert [e.event_time_ms for e in await q.read("a", "tickets", tickets[0].seq, 10)] == [3]
        assert len(await q.read("a", "tickets", 0, 1)) == 1
        assert await q.head("a", "tickets") == tickets[1].seq
        assert await q.head("a", "accounts") == 0

    run(with_queue(path, body))


def test_duplicates_are_stored_once_across_batches_and_within(path):
    async def body(q):
        assert (await q.append("a", [ev(t=1), ev(t=1)], 1)).stored == 1
        r = await q.append("a", [ev(t=1), ev(t=2)], 2)
        assert (r.stored, r.duplicates) == (1, 1)
        # the same event for another data source is not a duplicate
        assert (await q.append("b", [ev(t=1)], 3)).stored == 1
        assert len(await q.read("a", "tickets", 0, 10)) == 2

    run(with_queue(path, body))


def test_duplicate_of_an_acknowledged_event_is_still_recognised(path):
    async def body(q):
        await q.append("a", [ev(t=1)], 1)
        head = await q.head("a", "tickets")
        assert await q.acknowledge("a", "tickets", head) == 1
        assert (await q.append("a", [ev(t=1)], 2)).duplicates == 1
        assert await q.read("a", "tickets", 0, 10) == []

    run(with_queue(path, body))


def test_acknowledge_deletes_only_its_own_source_and_partition(path):
    async def body(q):
        await q.append("a", [ev(t=1), ev(t=2), ev("Contact_Add", t=3)], 1)
        await q.append("b", [ev(t=1), ev(t=2)], 1)
        a = await q.read("a", "tickets", 0, 10)
        assert await q.acknowledge("a", "tickets", a[0].seq) == 1
        assert [e.seq for e in await q.read("a", "tickets", 0, 10)] == [a[1].seq]
        assert len(await q.read("a", "contacts", 0, 10)) == 1
        assert len(await q.read("b", "tickets", 0, 10)) == 2
        # acknowledging with b's name cannot touch a's rows either
        top = await q.head("a", "contacts")
        await q.acknowledge("b", "contacts", top)
        assert len(await q.read("a", "contacts", 0, 10)) == 1

    run(with_queue(path, body))


def test_head_never_goes_back_after_acknowledging_everything(path):
    async def body(q):
        await q.append("a", [ev(t=1), ev(t=2)], 1)
        head = await q.head("a", "tickets")
        await q.acknowledge("a", "tickets", head)
        assert await q.head("a", "tickets") == head
        await q.append("a", [ev(t=3)], 1)
        new = await q.read("a", "tickets", head, 10)
        assert len(new) == 1 and new[0].seq > head
        await q.acknowledge("a", "tickets", 1)  # an older ack is harmless
        assert await q.head("a", "tickets") == new[0].seq

    run(with_queue(path, body))


def test_ack_beyond_the_last_sequence_is_refused(path):
    async def body(q):
        await q.append("a", [ev(t=1)], 1)
        with pytest.raises(AckBeyondHead):
            await q.acknowledge("a", "tickets", 10**6)
        assert len(await q.read("a", "tickets", 0, 10)) == 1

    run(with_queue(path, body))


def test_seqs_are_never_reused_after_delete_and_restart(path):
    async def first(q):
        await q.append("a", [ev(t=1), ev(t=2)], 1)
        head = await q.head("a", "tickets")
        await q.acknowledge("a", "tickets", head)
        return head

    head = run(with_queue(path, first))

    async def second(q):
        await q.append("a", [ev(t=3)], 1)
        return await q.read("a", "tickets", 0, 10)

    assert run(with_queue(path, second))[0].seq > head


def test_append_is_committed_when_it_returns(path):
    async def body(q):
        await q.append("a", [ev(t=t) for t in range(50)], 1)
        # an independent connection (another process would see the same) finds every row
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 50
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            conn.close()

    run(with_queue(path, body))


def test_concurrent_appends_group_commit_and_all_land(path):
    async def body(q):
        results = await asyncio.gather(*(q.append("a", [ev(entity=str(i), t=i)], 1) for i in range(300)))
        assert sum(r.stored for r in results) == 300
        seqs = [e.seq for e in await q.read("a", "tickets", 0, 1000)]
        assert len(seqs) == 300 and seqs == sorted(set(seqs))

    run(with_queue(path, body))


def test_stats_report_depth_age_and_head(path):
    async def body(q):
        await q.append("a", [ev(t=1), ev(t=2)], 1000)
        await q.append("b", [ev("Contact_Add", t=1)], 2000)
        stats = {(s.source_id, s.partition): s for s in await q.stats()}
        assert stats[("a", "tickets")].depth == 2
        assert stats[("a", "tickets")].oldest_received_at_ms == 1000
        assert stats[("b", "contacts")].depth == 1
        await q.acknowledge("b", "contacts", stats[("b", "contacts")].head_seq)
        stats = {(s.source_id, s.partition): s for s in await q.stats()}
        assert stats[("b", "contacts")].depth == 0 and stats[("b", "contacts")].oldest_received_at_ms is None

    run(with_queue(path, body))


def test_close_commits_everything_already_submitted(path):
    async def body():
        q = SQLiteEventQueue(path)
        await q.start()
        pending = [asyncio.ensure_future(q.append("a", [ev(t=i)], 1)) for i in range(100)]
        await asyncio.sleep(0)  # let them enqueue
        await q.close()
        await asyncio.gather(*pending)

    run(body())

    async def count(q):
        return len(await q.read("a", "tickets", 0, 1000))

    assert run(with_queue(path, count)) == 100


def test_prune_forgets_old_keys_of_acknowledged_events_only(path):
    async def body(q):
        await q.append("a", [ev(t=1), ev(t=2)], 1)  # received at epoch+1 ms: long past any window
        first = (await q.read("a", "tickets", 0, 1))[0].seq
        await q.acknowledge("a", "tickets", first)
        q.prune_batch = 1  # exercise the batching loop too
        await q.prune()
        # t=1 was acknowledged and its key is past the window: a retry is new again (documented)
        assert (await q.append("a", [ev(t=1)], 5)).stored == 1
        # t=2 is still queued: its key is kept however old, so the retry stays a duplicate
        assert (await q.append("a", [ev(t=2)], 5)).duplicates == 1

    async def with_zero_window(path, body):
        q = SQLiteEventQueue(path, dedupe_retention_s=0)
        await q.start()
        try:
            return await body(q)
        finally:
            await q.close()

    run(with_zero_window(path, body))


def test_close_writes_what_was_accepted_and_refuses_what_comes_after(path):
    async def body():
        q = SQLiteEventQueue(path)
        await q.start()
        accepted = asyncio.ensure_future(q.append("a", [ev(t=1)], 1))
        closing = asyncio.ensure_future(q.close())
        await asyncio.sleep(0)  # both started: the append handed its job over, then close() began
        with pytest.raises(QueueUnavailable):  # refused at once, never left waiting
            await asyncio.wait_for(q.append("a", [ev(t=2)], 1), 5)
        await asyncio.wait_for(closing, 10)
        assert (await accepted).stored == 1

    run(body())

    async def count(q):
        return [e.event_time_ms for e in await q.read("a", "tickets", 0, 10)]

    assert run(with_queue(path, count)) == [1]


def test_batched_group_dedupes_across_jobs_and_against_the_store(path):
    async def body(q):
        await q.append("a", [ev(t=0)], 1)
        jobs = [[ev(t=i % 20)] for i in range(100)] + [[ev(t=0), ev(t=500), ev(t=500)]] + [[ev(t=1)] for _ in range(5)]
        results = await asyncio.gather(*(q.append("a", j, 1) for j in jobs), q.append("b", [ev(t=0)], 1))
        assert sum(r.stored for r in results) == 19 + 1 + 1  # t=1..19, t=500, and b's own t=0
        assert sum(r.stored + r.duplicates for r in results) == sum(map(len, jobs)) + 1
        stored = await q.read("a", "tickets", 0, 1000)
        assert sorted(e.event_time_ms for e in stored) == [*range(20), 500]
        seqs = [e.seq for e in stored]
        assert seqs == sorted(set(seqs))
        # the seen rows point at the right seqs: acknowledging deletes them and they still dedupe
        await q.acknowledge("a", "tickets", seqs[-1])
        assert (await q.append("a", [ev(t=7)], 2)).duplicates == 1

    run(with_queue(path, body))


def test_one_bad_job_in_a_batched_group_fails_alone(path):
    from dataclasses import replace

    async def body(q):
        bad = replace(ev(t=99), payload_json="\ud800")  # cannot be encoded: fails inside the batch
        results = await asyncio.gather(
            *(q.append("a", [ev(t=i)], 1) for i in range(10)), q.append("a", [bad], 1),
            *(q.append("a", [ev(t=i)], 1) for i in range(10, 20)),
            return_exceptions=True,
        )
        assert isinstance(results[10], QueueUnavailable)
        assert all(r.stored == 1 for n, r in enumerate(results) if n != 10)
        assert sorted(e.event_time_ms for e in await q.read("a", "tickets", 0, 100)) == list(range(20))

    run(with_queue(path, body))


def test_groups_too_big_for_the_event_loop_are_written_whole_off_it(path):
    async def body(q):
        q.inline_events = 2
        assert (await q.append("a", [ev(t=i) for i in range(5)], 1)).stored == 5  # staged in the io thread
        assert (await q.append("a", [ev(t=1)], 1)).duplicates == 1  # small: staged inline
        return [e.event_time_ms for e in await q.read("a", "tickets", 0, 10)]

    assert run(with_queue(path, body)) == [0, 1, 2, 3, 4]


def _rows(path):
    conn = sqlite3.connect(path)
    try:
        return [seq for (seq,) in conn.execute("SELECT seq FROM events ORDER BY seq")]
    finally:
        conn.close()


def test_acknowledged_events_vanish_from_reads_at_once_and_from_disk_in_small_batches(path):
    async def body(q):
        q.purge_batch = 3  # 10 acknowledged rows take four small transactions
        await q.append("a", [ev(t=i) for i in range(10)], 1)
        await q.append("b", [ev(t=1)], 1)
        seqs = [e.seq for e in await q.read("a", "tickets", 0, 100)]
        assert await q.acknowledge("a", "tickets", seqs[-1]) == 10
        # nothing acknowledged is handed out again, even before its row is deleted
        assert await q.read("a", "tickets", 0, 100) == []
        stats = {(s.source_id, s.partition): s for s in await q.stats()}
        assert stats[("a", "tickets")].depth == 0 and stats[("a", "tickets")].head_seq == seqs[-1]
        # writes go on while the rows are deleted
        assert (await q.append("a", [ev(t=50)], 1)).stored == 1
        for _ in range(100):
            if len(_rows(path)) == 2:
                break
            await asyncio.sleep(0.02)
        return [e.event_time_ms for e in await q.read("a", "tickets", 0, 100)]

    assert run(with_queue(path, body)) == [50]
    assert len(_rows(path)) == 2  # b's event and the new one: every acknowledged row is gone


def test_rows_acknowledged_before_a_restart_are_deleted_after_it(path):
    async def ack_all(q):
        q._purge_batch = lambda conn: False  # as if the process died right after the acknowledgement
        await q.append("a", [ev(t=i) for i in range(4)], 1)
        top = (await q.read("a", "tickets", 0, 10))[-1].seq
        await q.acknowledge("a", "tickets", top)
        return top

    async def wait_for_purge(q):
        for _ in range(100):
            if not _rows(path):
                return True
            await asyncio.sleep(0.02)
        return False

    run(with_queue(path, ack_all))
    assert len(_rows(path)) == 4
    assert run(with_queue(path, wait_for_purge))


def test_the_queue_refuses_another_event_loop_than_the_one_that_started_it(path):
    import threading

    async def body(q):
        errors = []

        def elsewhere():
            try:
                asyncio.run(q.append("a", [ev(t=1)], 1))
            except RuntimeError as exc:
                errors.append(str(exc))

        thread = threading.Thread(target=elsewhere)
        thread.start()
        await asyncio.to_thread(thread.join)
        assert errors and "another event loop" in errors[0]
        return (await q.append("a", [ev(t=1)], 1)).stored  # its own loop still works

    assert run(with_queue(path, body)) == 1
