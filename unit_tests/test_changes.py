"""ChangeSet: latest change per id wins, deletes are never resurrected by older events, memory stays bounded."""

from __future__ import annotations

from source_zoho_desk.streams.incremental import Change, ChangeSet, is_deleted


def _change(record_id: str, ms: int, deleted: bool = False, note: str = "") -> Change:
    return Change({"id": record_id, "ms": ms, "note": note}, ms, deleted)


def _offer(changes: ChangeSet, change: Change) -> list[dict]:
    """Offer one change; what a reader emits right after it (the buffer, when that filled up)."""
    changes.offer(change.record["id"], change)
    return list(changes.flush()) if changes.full else []


def _offer_all(changes: ChangeSet, offers: list[Change]) -> list[dict]:
    emitted = []
    for change in offers:
        emitted.extend(_offer(changes, change))
    return emitted + list(changes.flush())


def test_latest_change_per_id_wins_within_the_buffer():
    emitted = _offer_all(ChangeSet({}), [_change("1", 10, note="old"), _change("1", 20, note="new"), _change("2", 5)])
    assert [(r["id"], r["note"]) for r in emitted] == [("1", "new"), ("2", "")]


def test_an_out_of_order_older_event_is_dropped():
    emitted = _offer_all(ChangeSet({}), [_change("1", 20, note="new"), _change("1", 10, note="late and old")])
    assert [r["note"] for r in emitted] == ["new"]


def test_a_delete_is_not_resurrected_by_an_older_update_even_across_syncs():
    emitted = _offer_all(ChangeSet({"7": 100}), [_change("7", 90, note="stale update"), _change("8", 95)])
    assert [r["id"] for r in emitted] == ["8"]
    changes = ChangeSet({})
    emitted = _offer_all(changes, [_change("7", 100, deleted=True), _change("7", 99, note="older")])
    assert [r["note"] for r in emitted] == [""]
    assert changes.tombstones(now_ms=200) == {"7": 100}


def test_a_newer_update_after_a_delete_is_a_restore_and_wins():
    emitted = _offer_all(ChangeSet({}), [_change("7", 100, deleted=True), _change("7", 150, note="restored")])
    assert [r["note"] for r in emitted] == ["restored"]


def test_the_buffer_is_bounded_and_order_between_flushes_still_holds():
    changes = ChangeSet({}, capacity=3)
    flushed = []
    for i in range(10):
        flushed.append(_offer(changes, _change(str(i), i)))
    assert [len(batch) for batch in flushed] == [0, 0, 3, 0, 0, 3, 0, 0, 3, 0]
    assert _offer(changes, _change("0", -1)) == [], "older than what was already emitted"
    assert [r["id"] for r in changes.flush()] == ["9"]


def test_tombstones_are_bounded_in_age():
    changes = ChangeSet({"old": 0, "recent": 40 * 86_400_000})
    assert changes.tombstones(now_ms=45 * 86_400_000) == {"recent": 40 * 86_400_000}


def test_delete_signals():
    assert is_deleted("Ticket_Delete", {"id": "1"})
    assert is_deleted("Ticket_Attachment_Trashed", {"id": "1"})
    assert is_deleted("Ticket_Update", {"id": "1", "isDeleted": True})
    assert is_deleted("Contact_Update", {"id": "1", "isTrashed": "true"})
    assert not is_deleted("Ticket_Update", {"id": "1", "isDeleted": False})
