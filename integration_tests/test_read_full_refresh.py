"""Full refresh of every stream through the real entrypoint equals what the fake Zoho Desk holds: many pages,
in-range paging, schema-valid records, one token per process, resumable checkpoints and the credit summary."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

from airbyte_cdk.models import AirbyteStateMessageSerializer, Level, Type
from jsonschema import Draft7Validator, FormatChecker

from integration_tests.conftest import (
    ALL_STREAMS,
    CHILD_STREAMS,
    TOKEN_CALL,
    Connector,
    Run,
    configured,
    expected_records,
    iter_entrypoint,
    realistic_activity_times,
    record_key,
)
from integration_tests.fake_zoho.app import credit_weight
from integration_tests.fake_zoho.records import STREAMS, iso
from integration_tests.fake_zoho.state import FakeZoho

# Big enough that every paged top-level stream needs at least three pages at page_size 100
# (the OAS maxima: contacts/accounts 99, agents/departments 200 but capped by page_size, articles 50).
LARGE = {
    "tickets": 250, "contacts": 250, "accounts": 250, "products": 250, "contracts": 250, "agents": 250,
    "departments": 250, "articles": 120, "tasks": 60, "calls": 45, "events": 30,
}
# At page_size 7 these give every paged stream (and every department slice of the activities) 3+ pages.
SMALL_PAGES = {
    "tickets": 60, "contacts": 40, "accounts": 30, "products": 25, "contracts": 22, "agents": 35,
    "departments": 3, "articles": 22, "tasks": 66, "calls": 63, "events": 60, "layouts": 2,
}
PAGED_LIST = {  # stream -> its list route in the fake's call log
    name: "GET /api/v1" + spec.list_op.split(" ", 1)[1]
    for name, spec in STREAMS.items() if spec.parent is None and name != "teams"
}


def expected_as_stored(fake: FakeZoho, stream: str) -> dict[tuple[str, ...], dict[str, Any]]:
    """The fake's records with times as the fake stores them (ISO-8601 UTC strings), even for streams
    whose times it serves as epoch milliseconds: the connector must normalise those back."""
    expected = expected_records(fake, stream)
    if stream not in STREAMS:
        return expected
    time_fields = fake.data.factories[stream].time_fields
    for key, record in expected.items():
        stored = fake.get(stream, record["id"]) or {}
        for name in time_fields:
            if name in record and name in stored:
                record[name] = stored[name]
        # activityTime is epoch milliseconds in the OAS (int64); the connector's schema makes it a date-time.
        if isinstance(record.get("activityTime"), str) and record["activityTime"].isdigit():
            record["activityTime"] = iso(int(record["activityTime"]))
        expected[key] = record
    return expected


def assert_records_equal_the_fake(run: Run, fake: FakeZoho, streams: tuple[str, ...] = ALL_STREAMS) -> None:
    for stream in streams:
        got = run.records_of(stream)
        keys = [record_key(stream, r) for r in got]
        duplicates = [k for k, n in Counter(keys).items() if n > 1]
        assert not duplicates, f"{stream}: records delivered twice: {duplicates[:5]}"
        expected = expected_as_stored(fake, stream)
        assert set(keys) == set(expected), (
            f"{stream}: {len(set(expected) - set(keys))} missing, {len(set(keys) - set(expected))} unexpected"
        )
        for record in got:
            # The CDK's message serializer (omit_none) drops top-level null fields from RECORD data, so on
            # the wire an absent field and a null one are the same thing.
            want = {k: v for k, v in expected[record_key(stream, record)].items() if v is not None}
            assert record == want, f"{stream} {record_key(stream, record)}: " + ", ".join(
                f"{f}: got {record.get(f)!r} want {want.get(f)!r}"
                for f in sorted(set(record) | set(want)) if record.get(f) != want.get(f)
            )


def date_time(value: object) -> bool:
    """The lenient date-time check Airbyte destinations apply: an ISO-8601 date and time that parses."""
    if not isinstance(value, str) or "T" not in value:
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


FORMATS = FormatChecker()
# A format applies to strings only: `type` judges everything else (null included).
FORMATS.checks("date-time", raises=ValueError)(lambda value: not isinstance(value, str) or date_time(value))


def fake_breaks_its_own_oas(fake: FakeZoho, stream: str, field: str, value: Any) -> bool:
    """True when the fake serves `field` in a shape its own OAS item schema forbids (a fake bug: e.g. it
    fills tasks.modifiedBy, an object in the OAS, with a bare agent id). The connector cannot be blamed."""
    spec = STREAMS.get(stream)
    if spec is None:
        return False
    schema = (fake.facts.op(spec.list_op).item_schema or {}).get("properties", {}).get(field)
    return schema is not None and not Draft7Validator(schema).is_valid(value)


def assert_schema_valid(run: Run, connector: Connector, config: dict[str, Any], fake: FakeZoho) -> None:
    schemas = {s.name: s.json_schema for s in connector.catalog(config).streams}
    excused: set[str] = set()
    for stream in ALL_STREAMS:
        validator = Draft7Validator(schemas[stream], format_checker=FORMATS)
        for record in run.records_of(stream):
            for error in validator.iter_errors(record):
                field = str(error.path[0]) if error.path else ""
                if field and fake_breaks_its_own_oas(fake, stream, field, record.get(field)):
                    excused.add(f"{stream}.{field}")
                    continue
                raise AssertionError(f"{stream} record {record.get('id')} breaks its schema at "
                                     f"{list(error.path)}: {error.message}")
    if excused:
        print(f"fields the fake serves against its own OAS (not checked): {sorted(excused)}")


def assert_ids_and_times_normalised(run: Run) -> None:
    iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    for stream in ALL_STREAMS:
        for record in run.records_of(stream):
            assert isinstance(record["id"], str)
            for name in ("createdTime", "modifiedTime"):
                if record.get(name) is not None:
                    assert iso.match(record[name]), f"{stream}.{name} = {record[name]!r}"


def pages_needed(count: int, page: int) -> int:
    """List calls for `count` rows: full pages, then a short page (or Zoho's 204 when it divides evenly)."""
    return count // page + 1


def test_every_stream_at_page_size_100_equals_the_fake(serve, connector):
    epoch_streams = ["tickets", "contacts", "accounts", "products", "agents", "ticket_threads", "ticket_comments"]
    zoho = serve(sizes=LARGE, epoch_time_streams=epoch_streams)
    fake = zoho.fake
    realistic_activity_times(fake)
    config = zoho.config()
    catalog = configured(connector.catalog(config), ALL_STREAMS)
    fake.reset_calls()  # discover ran in its own process, with its own token (it reads the custom fields)

    run = connector.run(connector.args("read", config, catalog))

    assert run.uncaught is None and not run.errors, run.error_text()
    calls = fake.calls()  # before assert_schema_valid, whose discover mints a token of its own
    assert_records_equal_the_fake(run, fake)
    assert_schema_valid(run, connector, config, fake)
    assert_ids_and_times_normalised(run)
    # One refresh for the whole process: discover is a separate process here, so count the read alone.
    assert calls[TOKEN_CALL] == 1
    for stream in ("tickets", "contacts", "accounts", "products", "contracts", "agents", "departments", "articles"):
        limit = min(100, {"contacts": 99, "accounts": 99, "articles": 50}.get(stream, 100))
        assert calls[PAGED_LIST[stream]] >= pages_needed(LARGE[stream], limit) >= 3, stream
    for child in CHILD_STREAMS:
        assert calls["GET /api/v1" + STREAMS[child].list_op.split(" ", 1)[1]] == LARGE["tickets"]


def test_every_stream_at_page_size_7_equals_the_fake(serve, connector):
    zoho = serve(sizes=SMALL_PAGES)
    fake = zoho.fake
    realistic_activity_times(fake)
    config = zoho.config(page_size=7)
    catalog = configured(connector.catalog(config), ALL_STREAMS)
    fake.reset_calls()  # discover ran in its own process, with its own token (it reads the custom fields)

    run = connector.run(connector.args("read", config, catalog))

    assert run.uncaught is None and not run.errors, run.error_text()
    assert_records_equal_the_fake(run, fake)
    calls = fake.calls()
    assert calls[TOKEN_CALL] == 1
    # agents reject a limit below 10 (OAS), so their pages hold 10; the fake answers 422 to any out-of-range
    # from/limit, which would have failed the read above.
    page = {"agents": 10}
    for stream in ("tickets", "contacts", "accounts", "products", "contracts", "agents", "articles"):
        assert calls[PAGED_LIST[stream]] >= pages_needed(SMALL_PAGES[stream], page.get(stream, 7)) >= 3, stream
    departments = SMALL_PAGES["departments"]
    for stream in ("tasks", "calls", "events"):
        per_department = SMALL_PAGES[stream] // departments
        assert calls[PAGED_LIST[stream]] >= departments * pages_needed(per_department, 7), stream


def test_read_checkpoints_tickets_and_resumes_from_the_checkpoint(serve, connector):
    """Kill a tickets sync after its 2nd STATE message, rerun with that state: it resumes, nothing is lost."""
    zoho = serve(sizes={"tickets": 250})
    fake = zoho.fake
    config = zoho.config()
    catalog = configured(connector.catalog(config), ["tickets"])

    first = Run()
    states = []
    messages = iter_entrypoint(connector.args("read", config, catalog), first)
    for message in messages:
        if message.type == Type.STATE:
            states.append(message.state)
            if len(states) == 2:
                break
    messages.close()  # the platform killed the sync here
    first_ids = [r["id"] for r in first.records_of("tickets")]
    assert len(first_ids) == 200, "two checkpoints = two pages of 100"

    fake.reset_calls()
    offsets: list[int] = []
    original_page = fake.data.page

    def spying_page(stream: str, offset: int, limit: int, department: str | None = None) -> list:
        if stream == "tickets":
            offsets.append(offset)
        return original_page(stream, offset, limit, department)

    fake.data.page = spying_page  # type: ignore[method-assign]
    second = connector.run(connector.args("read", config, catalog,
                                          [AirbyteStateMessageSerializer.dump(states[-1])]))

    assert second.uncaught is None and not second.errors, second.error_text()
    assert offsets[0] == 200, f"the rerun started at from={offsets[0]}, not at the checkpoint"
    second_ids = [r["id"] for r in second.records_of("tickets")]
    assert set(first_ids) | set(second_ids) == {key[0] for key in expected_records(fake, "tickets")}
    assert not set(first_ids) & set(second_ids), "the rerun re-read checkpointed pages"


def test_read_logs_the_credit_summary_equal_to_the_fakes_weights(serve, connector):
    zoho = serve(sizes={"tickets": 120, "contacts": 120})
    fake = zoho.fake
    config = zoho.config()
    catalog = configured(connector.catalog(config), ALL_STREAMS)
    fake.reset_calls()
    credits_before = fake.credits_remaining

    run = connector.run(connector.args("read", config, catalog))

    assert not run.errors, run.error_text()
    summary = [m for m in run.logs(Level.INFO) if m.startswith("Zoho Desk API credits used by this sync")]
    assert len(summary) == 1, run.logs()
    found = re.match(r"Zoho Desk API credits used by this sync: (\d+); (\d+) credits left today", summary[0])
    assert found, summary[0]
    used, left = int(found[1]), int(found[2])
    # Recompute the X-Rate-Limit-Request-Weight-v3 headers from the fake's call counters and its own
    # weight table (every offset here is below 2,000, so a route's weight does not depend on it).
    weights = sum(
        n * credit_weight(fake.facts.op(route.replace(" /api/v1", " ", 1)), 0)
        for route, n in fake.calls().items() if route != TOKEN_CALL
    )
    assert used == weights == credits_before - fake.credits_remaining
    assert left == fake.credits_remaining
    # Per-stream lines name every stream that called the API.
    for stream in ALL_STREAMS:
        assert f"{stream}: " in summary[0], stream


def test_declared_date_time_fields_are_emitted_as_date_time(serve, connector):
    zoho = serve(sizes={"tasks": 3, "calls": 3, "events": 3})
    config = zoho.config()
    schemas = {s.name: s.json_schema for s in connector.catalog(config).streams}

    run = connector.read(config, ["tasks", "calls", "events"])

    assert not run.errors, run.error_text()
    for stream in ("tasks", "calls", "events"):
        assert len(run.records_of(stream)) == 3
        for record in run.records_of(stream):
            value = record.get("activityTime")
            assert schemas[stream]["properties"]["activityTime"].get("format") == "date-time"
            assert value is None or date_time(value), f"{stream}.activityTime = {value!r}"
