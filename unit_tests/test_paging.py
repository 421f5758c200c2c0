"""The base stream: orgId header, from/limit paging (0-based), 204 and short-page ends, envelopes, times."""

from __future__ import annotations

from typing import Any

import pytest
from airbyte_cdk.models import SyncMode

from source_zoho_desk.auth import ZohoOAuthAuthenticator
from source_zoho_desk.config import ZohoDeskConfig
from source_zoho_desk.streams.base import StreamContext, ZohoDeskStream
from unit_tests.conftest import API, TOKEN_URL

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": ["null", "string"]},
        "createdTime": {"type": ["null", "string"], "format": "date-time"},
        "contact": {"type": ["null", "object"], "properties": {"modifiedTime": {"format": "date-time"}}},
    },
}


class Things(ZohoDeskStream):
    name = "things"
    path_template = "things"
    page_limit = 100

    def get_json_schema(self) -> dict[str, Any]:
        return SCHEMA


class Groups(Things):
    name = "groups"
    path_template = "groups"
    list_key = "groups"
    page_limit = None


@pytest.fixture
def context(raw_config, requests_mock):
    requests_mock.post(TOKEN_URL, json={"access_token": "tok", "expires_in": 3600})
    config = ZohoDeskConfig.from_mapping(raw_config)
    return StreamContext.build(config, ZohoOAuthAuthenticator(config, "1000.refresh"))


def _records(stream):
    return list(stream.read_all())


def test_pages_from_zero_until_204(raw_config, requests_mock):
    raw_config["max_concurrency"] = 1  # one call at a time: the exact call sequence is observable
    requests_mock.post(TOKEN_URL, json={"access_token": "tok", "expires_in": 3600})
    config = ZohoDeskConfig.from_mapping(raw_config)
    context = StreamContext.build(config, ZohoOAuthAuthenticator(config, "1000.refresh"))
    pages = {0: [{"id": "1"}, {"id": "2"}, {"id": "3"}], 3: [{"id": "4"}, {"id": "5"}, {"id": "6"}]}

    def respond(request, ctx):
        offset = int(request.qs["from"][0])
        if offset not in pages:
            ctx.status_code = 204
            return ""
        ctx.headers["X-Rate-Limit-Request-Weight-v3"] = "3"
        return {"data": pages[offset]}

    requests_mock.get(f"{API}/things", json=respond)
    records = _records(Things(context))
    assert [r["id"] for r in records] == ["1", "2", "3", "4", "5", "6"]
    calls = [h for h in requests_mock.request_history if h.url.startswith(API)]
    assert [(h.qs["from"], h.qs["limit"]) for h in calls] == [(["0"], ["3"]), (["3"], ["3"]), (["6"], ["3"])]
    assert all(h.headers["orgId"] == "700000001" for h in calls)
    assert all(h.headers["Authorization"] == "Zoho-oauthtoken tok" for h in calls)
    assert context.meter.usage("things").credits == 6
    assert context.meter.usage("things").calls == 3


def test_a_short_page_ends_without_another_call(context, requests_mock):
    requests_mock.get(f"{API}/things", json={"data": [{"id": "1"}, {"id": "2"}]})
    assert len(_records(Things(context))) == 2
    assert len([h for h in requests_mock.request_history if h.url.startswith(API)]) == 1


def test_page_size_is_capped_by_the_endpoint_maximum(raw_config, requests_mock):
    raw_config["page_size"] = 100
    requests_mock.post(TOKEN_URL, json={"access_token": "tok", "expires_in": 3600})
    config = ZohoDeskConfig.from_mapping(raw_config)
    context = StreamContext.build(config, ZohoOAuthAuthenticator(config, "r"))

    class Small(Things):
        page_limit = 50

    requests_mock.get(f"{API}/things", status_code=204)
    _records(Small(context))
    assert requests_mock.request_history[-1].qs["limit"] == ["50"]


def test_unpaged_endpoint_reads_its_own_envelope_and_sends_no_paging(context, requests_mock):
    requests_mock.get(f"{API}/groups", json={"groups": [{"id": "7"}]})
    assert [r["id"] for r in _records(Groups(context))] == ["7"]
    assert "from" not in requests_mock.request_history[-1].qs


def test_epoch_millis_become_iso_utc_nested_too(context, requests_mock):
    requests_mock.get(
        f"{API}/things",
        json={"data": [{"id": "1", "createdTime": 1507813910000, "contact": {"modifiedTime": "1507813910123"}},
                       {"id": "2", "createdTime": "2024-01-02T03:04:05.000Z", "contact": None}]},
    )
    first, second = _records(Things(context))
    assert first["createdTime"] == "2017-10-12T13:11:50.000Z"
    assert first["contact"]["modifiedTime"] == "2017-10-12T13:11:50.123Z"
    assert second["createdTime"] == "2024-01-02T03:04:05.000Z"


def test_forbidden_stream_is_skipped_not_failed(context, requests_mock):
    requests_mock.get(f"{API}/things", status_code=403, json={"errorCode": "SCOPE_MISMATCH", "message": "no"})
    assert _records(Things(context)) == []


def test_read_records_reads_one_page_per_call_so_airbyte_can_checkpoint_it(context, requests_mock):
    requests_mock.get(f"{API}/things", json={"data": [{"id": str(i)} for i in range(3)]})
    stream = Things(context)
    records = list(stream.read_records(sync_mode=SyncMode.full_refresh, stream_slice={}))
    assert len(records) == 3
    assert stream.state == {"from": 3}


def _numbered_pages(requests_mock, total: int, delay: float = 0.0):
    import time

    def respond(request, ctx):
        offset, limit = int(request.qs["from"][0]), int(request.qs["limit"][0])
        time.sleep(delay)
        if offset >= total:
            ctx.status_code = 204
            return None
        return {"data": [{"id": str(i)} for i in range(offset, min(total, offset + limit))]}

    requests_mock.get(f"{API}/things", json=respond)


def test_fetch_ahead_keeps_record_order_and_wastes_little(context, requests_mock):
    _numbered_pages(requests_mock, total=30, delay=0.01)  # 10 full pages of 3, then the end
    records = _records(Things(context))
    assert [r["id"] for r in records] == [str(i) for i in range(30)]
    offsets = sorted(int(h.qs["from"][0]) for h in requests_mock.request_history if h.url.startswith(API))
    assert offsets[:11] == list(range(0, 33, 3))
    assert len(offsets) <= 11 + (context.config.max_concurrency - 1)  # at most window-1 calls past the end


def test_fetch_ahead_of_a_one_page_table_makes_one_call(context, requests_mock):
    _numbered_pages(requests_mock, total=2)
    assert len(_records(Things(context))) == 2
    assert len([h for h in requests_mock.request_history if h.url.startswith(API)]) == 1

