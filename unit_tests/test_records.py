"""Record normalisation: epoch ms to ISO-8601 UTC, int ids to strings, nested objects and arrays, in place."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from source_zoho_desk.records import RecordShape, iso_from_epoch_ms


def _reference(ms: int) -> str:
    # integer arithmetic only, so the reference has no float rounding of its own
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return moment.isoformat(timespec="seconds")[:-6] + f".{ms % 1000:03d}Z"


@pytest.mark.parametrize("ms", [0, 1, 999, 1000, -1, -1000, -1001, 1764000000123, 253402300799999])
def test_iso_from_epoch_ms_edges(ms):
    assert iso_from_epoch_ms(ms) == _reference(ms)


def test_iso_from_epoch_ms_agrees_with_datetime_whatever_the_order_of_seconds():
    rng = random.Random(7)
    values = [rng.randint(-10**12, 4 * 10**12) for _ in range(2000)]
    values += [1764000000000 + i for i in range(0, 3000, 7)]  # many in one second: the cached prefix
    for ms in values:
        assert iso_from_epoch_ms(ms) == _reference(ms), ms
    assert iso_from_epoch_ms(1764000000123.9) == "2025-11-24T16:00:00.123Z"  # floats: truncated to the ms


SCHEMA = {
    "properties": {
        "id": {"type": ["string", "null"]},
        "createdTime": {"type": ["string", "null"], "format": "date-time"},
        "count": {"type": "integer"},
        "contact": {"type": ["object", "null"], "properties": {"id": {"type": "string"},
                                                              "seen": {"type": "string", "format": "date-time"}}},
        "tags": {"type": "array", "items": {"type": "object", "properties": {"tagId": {"type": "string"}}}},
        "odd name'\"\\n": {"type": "string"},
    }
}


def test_normalise_shapes_in_place_at_every_level():
    shape = RecordShape.from_schema(SCHEMA)
    record = {"id": 7, "createdTime": "1764000000123", "count": 3, "contact": {"id": 9, "seen": 0},
              "tags": [{"tagId": 1}, "not an object", {"tagId": "2"}], "odd name'\"\\n": 5, "extra": 1}
    assert shape.normalise(record) is record
    assert record == {"id": "7", "createdTime": "2025-11-24T16:00:00.123Z", "count": 3,
                      "contact": {"id": "9", "seen": None}, "tags": [{"tagId": "1"}, "not an object", {"tagId": "2"}],
                      "odd name'\"\\n": "5", "extra": 1}


def test_normalise_leaves_wrong_shapes_and_missing_fields_alone():
    shape = RecordShape.from_schema(SCHEMA)
    record = {"contact": "not an object", "tags": None, "createdTime": "2024-01-01T00:00:00Z", "id": True}
    assert shape.normalise(dict(record)) == record


def test_wide_records_are_checked_whether_or_not_they_hold_ints():
    from source_zoho_desk.records import MANY_STRINGS

    names = [f"s{i}" for i in range(MANY_STRINGS + 2)]
    shape = RecordShape.from_schema({"properties": {n: {"type": "string"} for n in names}})
    all_strings = {n: str(i) for i, n in enumerate(names)}
    assert shape.normalise(dict(all_strings)) == all_strings
    one_int = {**all_strings, names[-1]: 9}
    assert shape.normalise(one_int) == {**all_strings, names[-1]: "9"}
