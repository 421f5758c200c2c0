"""Concurrent reads against the fake Zoho Desk: calls overlap up to max_concurrency, never beyond, and a
429 TOO_MANY_REQUESTS lowers the concurrency instead of hammering; records keep their order."""

from __future__ import annotations

import pytest
from airbyte_cdk.models import SyncMode

from integration_tests.fake_zoho.server import running_fake_zoho
from integration_tests.fake_zoho.state import FakeZoho
from source_zoho_desk.auth import ZohoOAuthAuthenticator
from source_zoho_desk.config import ZohoDeskConfig
from source_zoho_desk.streams.base import StreamContext
from source_zoho_desk.streams.children import TicketComments
from source_zoho_desk.streams.tables import Tickets


@pytest.fixture(scope="module")
def server():
    fake = FakeZoho(sizes={"tickets": 1500, "ticket_comments": 2})
    fake.configure(latency_ms=15, token_rate_limit=False)
    with running_fake_zoho(fake) as running:
        yield running


def _context(server, **overrides) -> StreamContext:
    config = ZohoDeskConfig.from_mapping(server.config(**overrides))
    return StreamContext.build(config, ZohoOAuthAuthenticator(config, config.refresh_token))


@pytest.mark.parametrize("concurrency", [1, 4])
def test_pages_overlap_up_to_the_limit_and_keep_their_order(server, concurrency):
    server.fake.reset_calls()
    records = list(Tickets(_context(server, max_concurrency=concurrency)).read_all())
    assert [r["id"] for r in records] == server.fake.ids("tickets", 1500)
    assert server.fake.peak_in_flight == concurrency


def test_child_rows_of_many_tickets_are_fetched_concurrently_in_ticket_order(server):
    server.fake.reset_calls()
    context = _context(server, max_concurrency=5)
    comments = list(TicketComments(context).read_records(sync_mode=SyncMode.full_refresh))
    ticket_order = {tid: i for i, tid in enumerate(server.fake.ids("tickets", 1500))}
    positions = [ticket_order[c["ticketId"]] for c in comments]
    assert positions == sorted(positions)
    assert 2 <= server.fake.peak_in_flight <= 5


def test_too_many_requests_lowers_the_concurrency(server, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _s: None)  # the CDK's backoff waits; the fake's latency stays
    server.fake.reset_calls()
    server.fake.configure(max_concurrent=2)
    try:
        context = _context(server, max_concurrency=8)
        records = list(Tickets(context).read_all())
    finally:
        server.fake.configure(max_concurrent=None)
    assert len(records) == 1500
    assert context.gate.limit <= 2


def test_a_resumable_full_refresh_through_the_entrypoint_fetches_pages_concurrently(server, connector):
    from integration_tests.conftest import configured

    config = server.config(max_concurrency=4)
    catalog = configured(connector.catalog(config), ["tickets"])
    server.fake.reset_calls()
    run = connector.run(connector.args("read", config, catalog))
    assert run.uncaught is None and not run.errors, run.error_text()
    assert [r["id"] for r in run.records_of("tickets")] == server.fake.ids("tickets", 1500)
    assert len(run.states) >= 15, "still one checkpoint per page"
    assert server.fake.peak_in_flight == 4
