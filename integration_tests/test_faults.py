"""A sync survives Zoho's transient faults (429, 500, dropped connections, expired tokens) with every record
exactly once; daily-credit exhaustion fails the stream with when credits reset; unreadable streams are skipped."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

from airbyte_cdk.models import FailureType, Level

from integration_tests.conftest import ALL_STREAMS, TOKEN_CALL, configured, expected_records, record_key
from integration_tests.fake_zoho.facts import load_facts

SIZES = {"tickets": 120, "contacts": 120, "agents": 30}


def assert_complete(run, fake, streams=ALL_STREAMS) -> None:
    for stream in streams:
        keys = [record_key(stream, r) for r in run.records_of(stream)]
        assert not [k for k, n in Counter(keys).items() if n > 1], f"{stream}: a record was delivered twice"
        assert set(keys) == set(expected_records(fake, stream)), f"{stream}: records missing or unexpected"


def expire_tokens_when(fake, stream: str, offset: int) -> None:
    """Expire every access token while the fake serves `stream` at `offset`: that page is answered, the
    requests after it meet 401 INVALID_OAUTH (the token lapsed mid-sync)."""
    original = fake.data.page
    fired = []

    def page(name, at, limit, department=None):
        if name == stream and at == offset and not fired:
            fired.append(at)
            fake.expire_access_tokens()
        return original(name, at, limit, department)

    fake.data.page = page


def test_transient_faults_and_a_lapsed_token_lose_and_duplicate_nothing(serve, connector, sleeps):
    zoho = serve(sizes=SIZES)
    fake = zoho.fake
    config = zoho.config()
    catalog = configured(connector.catalog(config), ALL_STREAMS)
    fake.reset_calls()
    fake.fail_next("too_many_requests", 2, path="/api/v1/tickets", method="GET")
    fake.fail_next("server_error", 2, path="/api/v1/contacts", method="GET")
    fake.fail_next("drop", 1, path="/api/v1/agents", method="GET")
    fake.fail_next("server_error", 1, path="/threads", method="GET")
    expire_tokens_when(fake, "contacts", 99)

    run = connector.run(connector.args("read", config, catalog))

    assert run.uncaught is None and not run.errors, run.error_text()
    assert_complete(run, fake)
    assert not fake.faults.pending, "every injected fault was met"
    assert fake.calls()[TOKEN_CALL] == 2, "one token at the start, one refresh after the lapse"
    assert len(sleeps) >= 6, "each retried fault waited (backoff) before its retry"


def test_daily_credits_exhausted_fails_the_stream_with_the_reset_time(serve, connector, sleeps):
    zoho = serve()
    fake = zoho.fake
    config = zoho.config()
    catalog = configured(connector.catalog(config), ["departments", "tickets", "agents"])
    fake.fail_next("threshold_exceeded", 1, path="/api/v1/tickets", method="GET", retry_after=7200)

    run = connector.run(connector.args("read", config, catalog))

    [ticket_error] = [e for e in run.errors if e.trace.error.stream_descriptor
                      and e.trace.error.stream_descriptor.name == "tickets"]
    error = ticket_error.trace.error
    assert error.failure_type == FailureType.transient_error
    assert "daily API credits" in error.message and "THRESHOLD_EXCEEDED" in error.message
    found = re.search(r"reset in about ([\d.]+) h, at (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", error.message)
    assert found, error.message
    assert float(found[1]) == 2.0
    reset = datetime.strptime(found[2], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert abs(reset - (datetime.now(UTC) + timedelta(seconds=7200))) < timedelta(minutes=2)
    assert not [s for s in sleeps if s >= 7200], "it must not wait out the daily reset"
    # The other streams are not blamed.
    assert_complete(run, fake, ["departments", "agents"])


def test_credits_running_out_mid_sync_stops_with_the_reset_time(serve, connector, sleeps):
    zoho = serve(sizes={"tickets": 250})
    fake = zoho.fake
    # One call at a time: with pages fetched ahead, which page meets the exhausted balance would be a race.
    config = zoho.config(max_concurrency=1)
    catalog = configured(connector.catalog(config), ["tickets"])
    # Two list calls' worth of credits (the read takes cf types from the catalog, it does not list fields
    # again): the third page meets 429 THRESHOLD_EXCEEDED for real.
    fake.configure(credits_remaining=6, credits_retry_after=5 * 3600)

    run = connector.run(connector.args("read", config, catalog))

    assert len(run.records_of("tickets")) == 200, "the pages paid for are delivered"
    assert any("daily API credits" in e.trace.error.message and "5.0 h" in e.trace.error.message
               for e in run.errors), run.error_text()


def test_short_retry_after_waits_and_succeeds(serve, connector, sleeps):
    zoho = serve(sizes={"tickets": 150})
    fake = zoho.fake
    config = zoho.config()
    catalog = configured(connector.catalog(config), ["tickets"])
    fake.fail_next("threshold_exceeded", 1, path="/api/v1/tickets", method="GET", retry_after=30)

    run = connector.run(connector.args("read", config, catalog))

    assert run.uncaught is None and not run.errors, run.error_text()
    assert_complete(run, fake, ["tickets"])
    assert any(30 <= s <= 32 for s in sleeps), f"expected a wait of Retry-After (30 s), got {sleeps}"


def _read_skipping_contracts(zoho, connector) -> list[str]:
    """A full read where contracts is refused: it yields nothing, every other stream is whole; its warnings."""
    run = connector.read(zoho.config())
    assert run.uncaught is None and not run.errors, run.error_text()
    assert run.records_of("contracts") == []
    assert_complete(run, zoho.fake, [s for s in ALL_STREAMS if s != "contracts"])
    return [m for m in run.logs(Level.WARN) if "contracts" in m]


def test_stream_without_scope_is_skipped_with_a_warning(serve, connector):
    facts = load_facts()
    everything = {s for op in facts.operations.values() for s in op.scopes}
    zoho = serve(scopes=sorted(everything - set(facts.op("GET /contracts").scopes)))
    warnings = _read_skipping_contracts(zoho, connector)
    assert any("SCOPE_MISMATCH" in m and "Desk.contracts.READ" in m for m in warnings), warnings


def test_unlicensed_stream_is_skipped_with_a_warning_naming_the_feature(serve, connector):
    zoho = serve(unlicensed={"/contracts": "Contracts Management"})
    warnings = _read_skipping_contracts(zoho, connector)
    assert any("LICENSE_ACCESS_LIMITED" in m and "Contracts Management" in m and zoho.fake.edition in m
               for m in warnings), warnings


def test_credit_budget_stops_cleanly_with_the_state_of_the_pages_read(serve, connector):
    zoho = serve(sizes={"tickets": 500})
    config = zoho.config(credit_budget=9, max_concurrency=1)
    catalog = configured(connector.catalog(config), ["tickets"])

    run = connector.run(connector.args("read", config, catalog))

    assert len(run.records_of("tickets")) == 300, "three list calls of 3 credits fit the budget"
    assert run.states, "the pages read are checkpointed, so the next sync resumes after them"
    messages = [e.trace.error for e in run.errors if "credit_budget" in e.trace.error.message]
    assert messages and messages[0].failure_type.value == "transient_error", run.error_text()
