"""The fake Zoho Desk behaves like the documented API: tokens, errors, paging, search, faults, webhooks."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from integration_tests.fake_zoho import FakeZoho, FakeZohoServer, defaults, running_fake_zoho
from integration_tests.fake_zoho.records import created_ms, iso, modified_ms, parse_iso

REPO = Path(__file__).resolve().parent.parent
DEPT0 = "811000000000000000"  # department index 0 with the default seed


class Clock:
    """A clock tests can move (token and grant-code expiry)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def shared() -> Iterator[FakeZohoServer]:
    """One server for read-only tests (they must not mutate it)."""
    fake = FakeZoho()
    fake.configure(token_rate_limit=False)
    with running_fake_zoho(fake) as server:
        yield server


@pytest.fixture
def srv() -> Iterator[FakeZohoServer]:
    """A fresh server for tests that change state."""
    with running_fake_zoho(FakeZoho()) as server:
        yield server


def session(server: FakeZohoServer, org: str | None = defaults.ORG_ID) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = "Zoho-oauthtoken " + server.fake.access_token()
    if org:
        s.headers["orgId"] = org
    return s


def token(server: FakeZohoServer, use_form: bool = False, **params: str) -> dict:
    body = {
        "grant_type": "refresh_token",
        "refresh_token": defaults.REFRESH_TOKEN,
        "client_id": defaults.CLIENT_ID,
        "client_secret": defaults.CLIENT_SECRET,
        **params,
    }
    r = requests.post(server.token_url, data=body) if use_form else requests.post(server.token_url, params=body)
    assert r.status_code == 200  # Zoho Accounts answers errors with 200 too
    return r.json()


# ---- Accounts server ------------------------------------------------------------------------------
@pytest.mark.parametrize("use_form", [False, True], ids=["query", "form"])
def test_refresh_grant_returns_access_token_only(srv: FakeZohoServer, use_form: bool) -> None:
    body = token(srv, use_form=use_form)
    assert set(body) == {"access_token", "api_domain", "token_type", "expires_in"}
    assert body["api_domain"] == "https://www.zohoapis.com"
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    r = requests.get(srv.api_url + "/departments", headers={
        "Authorization": "Zoho-oauthtoken " + body["access_token"], "orgId": defaults.ORG_ID})
    assert r.status_code == 200


@pytest.mark.parametrize(("params", "expected"), [
    ({"client_id": "1000.UNKNOWN"}, "invalid_client"),
    ({"client_id": ""}, "invalid_client"),
    ({"client_secret": "wrong"}, "invalid_client_secret"),
    ({"refresh_token": "1000.not.a.token"}, "invalid_code"),
    ({"grant_type": "authorization_code", "code": "1000.unknown"}, "invalid_code"),
    ({"grant_type": "password"}, "unsupported_grant_type"),
])
def test_token_errors_are_http_200_with_error(shared: FakeZohoServer, params: dict, expected: str) -> None:
    assert token(shared, **params) == {"error": expected}


def test_grant_code_is_single_use_and_returns_refresh_token(srv: FakeZohoServer) -> None:
    first = token(srv, grant_type="authorization_code", code=defaults.GRANT_CODE)
    assert first["refresh_token"] and first["access_token"]
    assert token(srv, grant_type="authorization_code", code=defaults.GRANT_CODE) == {"error": "invalid_code"}
    # The refresh token it returned works like any other.
    assert "access_token" in token(srv, refresh_token=first["refresh_token"])


def test_grant_code_expires() -> None:
    clock = Clock()
    fake = FakeZoho(clock=clock)
    code = fake.issue_grant_code()
    with running_fake_zoho(fake) as srv:
        clock.now += 181
        assert token(srv, grant_type="authorization_code", code=code) == {"error": "invalid_code"}
        fresh = fake.issue_grant_code(ttl=600)
        clock.now += 599
        assert "refresh_token" in token(srv, grant_type="authorization_code", code=fresh)


def test_revoked_refresh_token_is_invalid_code_and_kills_its_access_tokens(srv: FakeZohoServer) -> None:
    access = token(srv)["access_token"]
    srv.fake.revoke_refresh_token()
    assert token(srv) == {"error": "invalid_code"}
    r = requests.get(srv.api_url + "/departments",
                     headers={"Authorization": "Zoho-oauthtoken " + access, "orgId": defaults.ORG_ID})
    assert (r.status_code, r.json()["errorCode"]) == (401, "INVALID_OAUTH")


def test_more_than_ten_tokens_per_ten_minutes_is_access_denied() -> None:
    clock = Clock()
    with running_fake_zoho(FakeZoho(clock=clock)) as srv:
        for _ in range(10):
            assert "access_token" in token(srv)
        assert token(srv) == {"error": "Access Denied"}
        clock.now += 601  # the window rolls on
        assert "access_token" in token(srv)
        srv.fake.configure(token_rate_limit=False)
        for _ in range(15):
            assert "access_token" in token(srv)


def test_access_token_expires_after_an_hour() -> None:
    clock = Clock()
    with running_fake_zoho(FakeZoho(clock=clock)) as srv:
        s = session(srv)
        assert s.get(srv.api_url + "/departments").status_code == 200
        clock.now += 3601
        r = s.get(srv.api_url + "/departments")
        assert (r.status_code, r.json()["errorCode"]) == (401, "INVALID_OAUTH")


# ---- Desk API: auth, org, scope, licence ----------------------------------------------------------
@pytest.mark.parametrize(("headers", "status", "code"), [
    ({}, 401, "UNAUTHORIZED"),
    ({"Authorization": "Zoho-oauthtoken 1000.bogus"}, 401, "INVALID_OAUTH"),
    ({"Authorization": "Bearer {token}"}, 401, "INVALID_OAUTH"),
    ({"Authorization": "Zoho-oauthtoken {token}"}, 422, "UNPROCESSABLE_ENTITY"),  # no orgId
    ({"Authorization": "Zoho-oauthtoken {token}", "orgId": "123"}, 403, "OAUTH_ORG_MISMATCH"),
])
def test_auth_and_org_errors(shared: FakeZohoServer, headers: dict, status: int, code: str) -> None:
    tok = shared.fake.access_token()
    sent = {k: v.format(token=tok) for k, v in headers.items()}
    r = requests.get(shared.api_url + "/tickets", headers=sent)
    assert r.status_code == status
    assert r.json()["errorCode"] == code
    assert set(r.json()) >= {"errorCode", "message"}
    if code == "OAUTH_ORG_MISMATCH":
        assert r.json()["message"] == "The OAuthToken is not valid for specified organization"
    if code == "UNPROCESSABLE_ENTITY":
        assert r.json()["errors"][0]["fieldName"] == "/orgId"


def test_org_id_as_query_parameter_and_organizations_without_org(shared: FakeZohoServer) -> None:
    s = session(shared, org=None)
    assert s.get(shared.api_url + "/departments", params={"orgId": defaults.ORG_ID}).status_code == 200
    orgs = s.get(shared.api_url + "/organizations")
    assert orgs.status_code == 200
    assert orgs.json()["data"][0]["id"] == defaults.ORG_ID


def test_bearer_and_missing_org_can_be_tolerated(srv: FakeZohoServer) -> None:
    srv.fake.configure(accept_bearer=True, require_org_id=False)
    r = requests.get(srv.api_url + "/departments", headers={"Authorization": "Bearer " + srv.fake.access_token()})
    assert r.status_code == 200


def test_expire_access_tokens_now(srv: FakeZohoServer) -> None:
    s = session(srv)
    srv.fake.expire_access_tokens()
    r = s.get(srv.api_url + "/tickets")
    assert (r.status_code, r.json()["errorCode"]) == (401, "INVALID_OAUTH")


@pytest.mark.parametrize(("scopes", "path", "status"), [
    (["Desk.basic.READ"], "/tickets", 403),
    (["Desk.basic.READ"], "/departments", 200),
    (["Desk.tickets.READ"], "/tickets", 200),
    (["Desk.tickets.ALL"], "/tickets", 200),
    (["Desk.tickets.READ"], "/tickets/search", 403),  # search needs Desk.search.READ as well
    (["Desk.tickets.READ", "Desk.search.READ"], "/tickets/search", 200),
    (["Desk.search.READ"], "/tickets/search", 403),
    (["Desk.contacts.READ"], "/accounts", 200),
    (["Desk.webhooks.READ"], "/webhooks", 204),
])
def test_scope_mismatch(srv: FakeZohoServer, scopes: list, path: str, status: int) -> None:
    srv.fake.configure(scopes=scopes)
    r = session(srv).get(srv.api_url + path)
    assert r.status_code == status
    if status == 403:
        assert r.json()["errorCode"] == "SCOPE_MISMATCH"


@pytest.mark.parametrize("unlicensed", [{"/contracts": "CONTRACTS"}, ["/contracts"]], ids=["dict", "list"])
def test_unlicensed_feature(srv: FakeZohoServer, unlicensed: dict | list) -> None:
    srv.fake.configure(unlicensed=unlicensed)
    r = session(srv).get(srv.api_url + "/contracts")
    assert r.status_code == 403
    body = r.json()
    assert body["errorCode"] == "LICENSE_ACCESS_LIMITED"
    assert (body["feature"], body["editionType"], body["isTrial"]) == ("CONTRACTS", "PROFESSIONAL", False)
    assert session(srv).get(srv.api_url + "/products").status_code == 200


def test_unknown_url_and_method(shared: FakeZohoServer) -> None:
    s = session(shared)
    r = s.get(shared.api_url + "/nothingHere")
    assert (r.status_code, r.json()["errorCode"]) == (404, "URL_NOT_FOUND")
    r = s.delete(shared.api_url + "/tickets")
    assert (r.status_code, r.json()["errorCode"]) == (405, "METHOD_NOT_ALLOWED")
    r = s.get(shared.api_url + "/tickets/810000000009999999")
    assert r.status_code == 404


# ---- Query validation ---------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "params", "message"), [
    ("/tickets", {"sortOrder": "asc"}, "Extra query parameter 'sortOrder' is present in the input."),
    ("/tickets", {"limit": "101"}, "The value passed for field 'limit' exceeds the range of '1-100'."),
    ("/tickets", {"limit": "0"}, "The value passed for field 'limit' exceeds the range of '1-100'."),
    ("/tickets", {"limit": "ten"}, "The value passed for the 'limit' query parameter is invalid."),
    ("/tickets", {"from": "x"}, "The value passed for the 'from' query parameter is invalid."),
    ("/tickets", {"from": "-1"}, "The value passed for the 'from' query parameter is invalid."),
    ("/tickets", {"include": "contacts,bogus"}, "The value passed for the 'include' query parameter is invalid."),
    ("/contacts", {"limit": "100"}, "The value passed for field 'limit' exceeds the range of '1-99'."),
    ("/agents", {"limit": "5"}, "The value passed for field 'limit' exceeds the range of '10-200'."),
    ("/accounts", {"from": "0"}, "The value passed for the 'from' query parameter is invalid."),
    ("/teams", {"limit": "10"}, "Extra query parameter 'limit' is present in the input."),
    ("/organizationModules", {"from": "0"}, "Extra query parameter 'from' is present in the input."),
    ("/tasks", {}, "The query parameter 'departmentId' is mandatory."),
    ("/organizationFields", {}, "The query parameter 'module' is mandatory."),
    ("/organizationFields", {"module": "nope"}, "The value passed for the 'module' query parameter is invalid."),
    ("/tickets/search", {"from": "1000"}, "The value passed for field 'from' exceeds the range of '0-999'."),
    ("/tickets/search", {"limit": "101"}, "The value passed for field 'limit' exceeds the range of '1-100'."),
    ("/tickets/search", {"modifiedTimeRange": "yesterday"},
     "The value passed for the 'modifiedTimeRange' query parameter is invalid."),
    ("/tickets", {"sortBy": "modifiedTime"}, "The value passed for the 'sortBy' query parameter is invalid."),
])
def test_unprocessable_queries(shared: FakeZohoServer, path: str, params: dict, message: str) -> None:
    r = session(shared).get(shared.api_url + path, params=params)
    assert r.status_code == 422
    assert r.json()["errorCode"] == "UNPROCESSABLE_ENTITY"
    assert r.json()["message"] == message


def test_required_department_can_be_relaxed(srv: FakeZohoServer) -> None:
    srv.fake.configure(enforce_required_params=False)
    assert session(srv).get(srv.api_url + "/tasks").status_code == 200


# ---- Paging and records -------------------------------------------------------------------------
def walk(s: requests.Session, url: str, limit: int, start: int = 0, **params: str) -> list[dict]:
    out, offset = [], start
    while True:
        r = s.get(url, params={"from": offset, "limit": limit, **params})
        if r.status_code == 204:
            assert r.content == b""
            return out
        assert r.status_code == 200, r.text
        out.extend(r.json()["data"])
        offset += limit


@pytest.mark.parametrize(("stream", "limit", "start", "params"), [
    ("tickets", 7, 0, {}),
    ("contacts", 99, 0, {}),
    ("accounts", 4, 1, {}),  # the OAS makes accounts' `from` 1-based (minimum 1, default 1)
    ("articles", 5, 1, {}),
    ("departments", 200, 0, {}),
    ("tasks", 3, 0, {"departmentId": DEPT0}),
])
def test_page_walk_returns_every_record_once(shared: FakeZohoServer, stream: str, limit: int, start: int,
                                             params: dict) -> None:
    records = walk(session(shared), f"{shared.api_url}/{stream}", limit, start, **params)
    ids = [r["id"] for r in records]
    expected = shared.fake.data.sizes[stream]
    if "departmentId" in params:
        expected = len(range(0, expected, shared.fake.data.sizes["departments"]))
        assert {r["departmentId"] for r in records} == {DEPT0}
    assert len(ids) == len(set(ids)) == expected
    assert all(len(i) == 18 and i.isdigit() for i in ids)


def test_records_follow_oas_shape_and_relations(shared: FakeZohoServer) -> None:
    s = session(shared)
    fake = shared.fake
    tickets = s.get(shared.api_url + "/tickets", params={"limit": 100}).json()["data"]
    list_keys = set(fake.facts.op("GET /tickets").properties)
    assert all(set(t) <= list_keys for t in tickets)
    assert "modifiedTime" not in tickets[0]  # the OAS list view has no modifiedTime; search and get do
    department_ids = {d["id"] for d in s.get(shared.api_url + "/departments").json()["data"]}
    agent_ids = {a["id"] for a in walk(s, shared.api_url + "/agents", 200)}
    contacts = {c["id"]: c for c in walk(s, shared.api_url + "/contacts", 99)}
    for t in tickets:
        assert t["departmentId"] in department_ids
        assert t["assigneeId"] in agent_ids
        assert t["accountId"] == contacts[t["contactId"]]["accountId"]
        assert t["department"]["id"] == t["departmentId"]
        assert parse_iso(t["createdTime"]) > 0 and t["createdTime"].endswith("Z") and len(t["createdTime"]) == 24
    one = s.get(f"{shared.api_url}/tickets/{tickets[3]['id']}").json()
    assert one["id"] == tickets[3]["id"] and "modifiedTime" in one
    assert s.get(shared.api_url + "/teams").json()["teams"]
    assert s.get(shared.api_url + "/organizationModules").json()["data"]
    fields = s.get(shared.api_url + "/organizationFields", params={"module": "tickets"}).json()["data"]
    status = next(f for f in fields if f["apiName"] == "status")
    assert {"value": "Closed", "statusType": "Closed"} in status["pickListValues"]
    assert status["allowedValues"] == status["pickListValues"]
    assert s.get(shared.api_url + "/layouts", params={"module": "contacts"}).json()["data"]


def test_same_seed_same_records_and_other_seed_differs() -> None:
    a, b, c = FakeZoho(seed=3), FakeZoho(seed=3), FakeZoho(seed=4)
    assert a.data.page("tickets", 10, 5) == b.data.page("tickets", 10, 5)
    assert a.data.page("tickets", 10, 5) != c.data.page("tickets", 10, 5)


def test_children_per_ticket(shared: FakeZohoServer) -> None:
    s = session(shared)
    counts = []
    for ticket_id in shared.fake.ids("tickets", 20):
        r = s.get(f"{shared.api_url}/tickets/{ticket_id}/comments")
        comments = [] if r.status_code == 204 else r.json()["data"]
        assert all(c["id"] for c in comments)
        counts.append(len(comments))
    assert 0 in counts and max(counts) <= 3 and sum(counts) > 0
    r = s.get(f"{shared.api_url}/tickets/810000000009999999/threads")
    assert r.status_code == 404


def test_epoch_ms_switch_for_ticket_times(srv: FakeZohoServer) -> None:
    srv.fake.configure(epoch_time_streams=["tickets"])
    ticket = session(srv).get(srv.api_url + "/tickets", params={"limit": 1}).json()["data"][0]
    assert ticket["createdTime"] == created_ms(0)
    assert isinstance(ticket["dueDate"], int)


def test_fifty_thousand_ticket_walk_is_fast() -> None:
    with running_fake_zoho(FakeZoho(sizes={"tickets": 50_000})) as srv:
        started = time.monotonic()
        records = walk(session(srv), srv.api_url + "/tickets", 100)
        elapsed = time.monotonic() - started
    assert len(records) == 50_000
    assert elapsed < 20, elapsed  # ~4 s on a laptop; generous for slow CI


# ---- Search -------------------------------------------------------------------------------------
def test_search_windows_partition_the_records(shared: FakeZohoServer) -> None:
    s = session(shared)
    url = shared.api_url + "/tickets/search"
    total = shared.fake.data.sizes["tickets"]
    first, last = modified_ms(0), modified_ms(total - 1)
    middle = (first + last) // 2
    windows = [(first, middle), (middle + 1, last)]
    seen: list[str] = []
    for low, high in windows:
        rng = f"{iso(low)},{iso(high)}"
        r = s.get(url, params={"modifiedTimeRange": rng, "sortBy": "modifiedTime", "limit": 100})
        body = r.json()
        times = [parse_iso(t["modifiedTime"]) for t in body["data"]]
        assert times == sorted(times) and all(low <= t <= high for t in times)
        assert body["count"] == len(body["data"])
        seen += [t["id"] for t in body["data"]]
    assert len(seen) == len(set(seen)) == total
    desc = s.get(url, params={"sortBy": "-modifiedTime", "limit": 5}).json()["data"]
    assert [parse_iso(t["modifiedTime"]) for t in desc] == sorted((modified_ms(i) for i in range(total - 5, total)),
                                                                  reverse=True)
    r = s.get(url, params={"modifiedTimeRange": "2030-01-01T00:00:00.000Z,2030-02-01T00:00:00.000Z"})
    assert (r.status_code, r.content) == (204, b"")


def test_search_offset_ceiling_is_configurable() -> None:
    fake = FakeZoho(sizes={"tickets": 1500})
    with running_fake_zoho(fake) as srv:
        s = session(srv)
        url = srv.api_url + "/tickets/search"
        body = s.get(url, params={"from": 999, "limit": 100}).json()
        assert body["count"] == 1500 and len(body["data"]) == 100
        assert s.get(url, params={"from": 1000}).status_code == 422
        fake.configure(search_max_from=4999)
        assert s.get(url, params={"from": 1400, "limit": 100}).status_code == 200
        assert s.get(url, params={"from": 1500}).status_code == 204


@pytest.mark.parametrize("module", ["contacts", "accounts", "products", "tasks", "calls", "events", "articles"])
def test_module_search_by_created_time(shared: FakeZohoServer, module: str) -> None:
    size = shared.fake.data.sizes[module]
    rng = f"{iso(created_ms(2))},{iso(created_ms(size - 1))}"
    body = session(shared).get(f"{shared.api_url}/{module}/search",
                               params={"createdTimeRange": rng, "sortBy": "createdTime", "limit": 100}).json()
    assert body["count"] == size - 2 == len(body["data"])


# ---- Mutations and webhook events ---------------------------------------------------------------
def test_update_moves_record_into_the_current_search_window(srv: FakeZohoServer) -> None:
    fake, s = srv.fake, session(srv)
    ticket_id = fake.ids("tickets", 5)[4]
    before = time.time()
    updated = fake.update("tickets", ticket_id, subject="changed", priority="High")
    assert parse_iso(updated["modifiedTime"]) >= int(before * 1000) - 1
    rng = f"{iso(int(before * 1000) - 1000)},{iso(int(time.time() * 1000) + 1000)}"
    found = s.get(srv.api_url + "/tickets/search", params={"modifiedTimeRange": rng}).json()
    assert [t["id"] for t in found["data"]] == [ticket_id] and found["data"][0]["subject"] == "changed"
    old = s.get(srv.api_url + "/tickets/search",
                params={"modifiedTimeRange": f"{iso(modified_ms(0))},{iso(modified_ms(10))}", "limit": 50}).json()
    assert ticket_id not in {t["id"] for t in old["data"]}
    event = fake.webhook_event("tickets", ticket_id)
    assert event["eventType"] == "Ticket_Update" and event["orgId"] == defaults.ORG_ID
    assert event["payload"]["subject"] == "changed" and event["prevState"]["subject"] != "changed"
    assert int(event["eventTime"]) >= int(before * 1000) - 1
    fake.configure(event_time_as_string=False)
    assert isinstance(fake.webhook_event("tickets", ticket_id)["eventTime"], int)


def test_search_index_delay_serves_the_previous_state() -> None:
    clock = Clock()
    fake = FakeZoho(clock=clock)
    fake.configure(search_index_delay_ms=5000)
    ticket_id = fake.ids("tickets", 1)[0]
    fake.update("tickets", ticket_id, subject="late")
    new = fake.create("tickets", subject="unindexed")
    page, count = fake.data.search("tickets", {}, 0, 100)
    by_id = {t["id"]: t for t in page}
    assert new["id"] not in by_id and by_id[ticket_id]["subject"] != "late" and count == 60
    clock.now += 6
    page, count = fake.data.search("tickets", {}, 0, 100)
    by_id = {t["id"]: t for t in page}
    assert by_id[new["id"]]["subject"] == "unindexed" and by_id[ticket_id]["subject"] == "late" and count == 61


def test_create_and_delete(srv: FakeZohoServer) -> None:
    fake, s = srv.fake, session(srv)
    total = fake.data.sizes["tickets"]
    new = fake.create("tickets", subject="brand new")
    assert fake.webhook_event("tickets", new["id"])["eventType"] == "Ticket_Add"
    ids = [t["id"] for t in walk(s, srv.api_url + "/tickets", 100)]
    assert ids[-1] == new["id"] and len(ids) == total + 1
    gone = ids[0]
    fake.delete("tickets", gone)
    event = fake.webhook_event("tickets", gone)
    assert (event["eventType"], event["payload"]) == ("Ticket_Delete", {"id": gone})
    ids = [t["id"] for t in walk(s, srv.api_url + "/tickets", 100)]
    assert gone not in ids and len(ids) == total
    assert s.get(f"{srv.api_url}/tickets/{gone}").status_code == 404
    found = s.get(srv.api_url + "/tickets/search", params={"limit": 100}).json()
    assert gone not in {t["id"] for t in found["data"]} and found["count"] == total
    comment = fake.create("ticket_comments", ticket_id=new["id"], content="hi")
    listed = s.get(f"{srv.api_url}/tickets/{new['id']}/comments").json()["data"]
    assert comment["id"] in {c["id"] for c in listed}
    assert fake.webhook_event("ticket_comments", comment["id"])["eventType"] == "Ticket_Comment_Add"


def test_admin_mutations_over_http(srv: FakeZohoServer) -> None:
    admin = srv.base_url + "/_fake"
    contact_id = requests.get(admin + "/records/contacts/ids", params={"limit": 1}).json()["ids"][0]
    r = requests.patch(f"{admin}/records/contacts/{contact_id}", json={"lastName": "Zed"})
    assert r.status_code == 200
    assert r.json()["record"]["lastName"] == "Zed" and r.json()["event"]["eventType"] == "Contact_Update"
    r = requests.post(admin + "/records/tickets", json={"subject": "via http"})
    assert r.json()["event"]["eventType"] == "Ticket_Add"
    r = requests.delete(f"{admin}/records/contacts/{contact_id}")
    assert r.json()["event"]["payload"] == {"id": contact_id}
    assert requests.get(f"{admin}/records/contacts/{contact_id}").status_code == 404
    assert requests.post(admin + "/records/nope", json={}).status_code == 404


# ---- Credits, faults, counters ------------------------------------------------------------------
def test_credit_headers_and_daily_budget() -> None:
    fake = FakeZoho(sizes={"tickets": 2200})
    with running_fake_zoho(fake) as srv:
        s = session(srv)
        r = s.get(srv.api_url + "/tickets", params={"from": 0})
        assert r.headers["X-Rate-Limit-Request-Weight-v3"] == "3"
        assert r.headers["X-Rate-Limit-Remaining-v3"] == str(defaults.DAILY_CREDITS - 3)
        r = s.get(srv.api_url + "/tickets", params={"from": 2100})
        assert r.headers["X-Rate-Limit-Request-Weight-v3"] == "5"
        ticket_id = fake.ids("tickets", 1)[0]
        assert s.get(f"{srv.api_url}/tickets/{ticket_id}").headers["X-Rate-Limit-Request-Weight-v3"] == "1"
        fake.configure(credits_remaining=2, credits_retry_after=120)
        r = s.get(srv.api_url + "/tickets")
        assert (r.status_code, r.json()["errorCode"], r.headers["Retry-After"]) == (429, "THRESHOLD_EXCEEDED", "120")


@pytest.mark.parametrize(("kind", "status", "code", "retry_after"), [
    ("too_many_requests", 429, "TOO_MANY_REQUESTS", None),
    ("threshold_exceeded", 429, "THRESHOLD_EXCEEDED", "30"),
    ("server_error", 500, "INTERNAL_SERVER_ERROR", None),
])
def test_injected_faults(srv: FakeZohoServer, kind: str, status: int, code: str, retry_after: str | None) -> None:
    s = session(srv)
    srv.fake.fail_next(kind, count=2, path="/tickets", retry_after=30)
    assert s.get(srv.api_url + "/departments").status_code == 200  # other paths unaffected
    for _ in range(2):
        r = s.get(srv.api_url + "/tickets")
        assert (r.status_code, r.json()["errorCode"]) == (status, code)
        assert r.headers.get("Retry-After") == retry_after
    assert s.get(srv.api_url + "/tickets").status_code == 200


def test_dropped_connection_and_admin_fault_api(srv: FakeZohoServer) -> None:
    s = session(srv)
    r = requests.post(srv.base_url + "/_fake/faults", json={"kind": "drop", "count": 1, "path": "/tickets"})
    assert r.status_code == 200 and r.json()["pending"][0]["kind"] == "drop"
    with pytest.raises(requests.exceptions.RequestException):
        s.get(srv.api_url + "/tickets")
    assert s.get(srv.api_url + "/tickets").status_code == 200
    requests.post(srv.base_url + "/_fake/faults", json={"kind": "server_error", "count": 5})
    assert requests.delete(srv.base_url + "/_fake/faults").json() == {"pending": []}
    assert s.get(srv.api_url + "/tickets").status_code == 200
    assert requests.post(srv.base_url + "/_fake/faults", json={"kind": "nope"}).status_code == 400


def test_token_endpoint_faults(srv: FakeZohoServer) -> None:
    srv.fake.fail_next("server_error", path="/oauth/v2/token")
    r = requests.post(srv.token_url, params={"grant_type": "refresh_token"})
    assert r.status_code == 500
    assert "access_token" in token(srv)


def test_admin_expire_settings_and_revoke(srv: FakeZohoServer) -> None:
    s = session(srv)
    assert requests.post(srv.base_url + "/_fake/expire_tokens").status_code == 200
    assert s.get(srv.api_url + "/tickets").json()["errorCode"] == "INVALID_OAUTH"
    r = requests.patch(srv.base_url + "/_fake/settings", json={"latency_ms": 5, "scopes": ["Desk.basic.READ"]})
    assert r.json()["latency_ms"] == 5 and r.json()["scopes"] == ["Desk.basic.READ"]
    assert requests.patch(srv.base_url + "/_fake/settings", json={"nope": 1}).status_code == 400
    requests.post(srv.base_url + "/_fake/revoke_refresh_token", json={})
    assert token(srv) == {"error": "invalid_code"}
    code = requests.post(srv.base_url + "/_fake/grant_codes", json={}).json()["code"]
    assert "refresh_token" in token(srv, grant_type="authorization_code", code=code)


def test_concurrency_limit_and_latency(srv: FakeZohoServer) -> None:
    srv.fake.configure(max_concurrent=2, latency_ms=200)
    tok = srv.fake.access_token()
    statuses: list[int] = []

    def call() -> None:
        r = requests.get(srv.api_url + "/departments",
                         headers={"Authorization": "Zoho-oauthtoken " + tok, "orgId": defaults.ORG_ID})
        statuses.append(r.status_code)

    started = time.monotonic()
    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started >= 0.2
    assert statuses.count(200) >= 2 and 429 in statuses


def test_call_counters(srv: FakeZohoServer) -> None:
    s = session(srv)
    requests.delete(srv.base_url + "/_fake/calls")
    ticket_id = srv.fake.ids("tickets", 1)[0]
    s.get(srv.api_url + "/tickets")
    s.get(srv.api_url + "/tickets", params={"from": 100})
    s.get(f"{srv.api_url}/tickets/{ticket_id}/threads")
    token(srv)
    calls = requests.get(srv.base_url + "/_fake/calls").json()
    assert calls == {"GET /api/v1/tickets": 2, "GET /api/v1/tickets/{ticketId}/threads": 1,
                     "POST /oauth/v2/token": 1}
    srv.fake.reset_calls()
    assert srv.fake.calls() == {}


# ---- Webhooks -----------------------------------------------------------------------------------
SUBS = {"Ticket_Add": None, "Ticket_Update": {"includePrevState": True}}


def test_webhook_crud_with_url_validation(srv: FakeZohoServer) -> None:
    s = session(srv)
    url = srv.api_url + "/webhooks"
    # The fake's own admin endpoints serve as receivers: GET 200, POST-only, and nothing at all.
    get_ok = srv.base_url + "/_fake/calls"
    post_ok = srv.base_url + "/_fake/access_token"
    dead = srv.base_url + "/_fake/nothing"
    r = s.post(url, json={"url": get_ok, "subscriptions": SUBS, "name": "one"})
    assert r.status_code == 200, r.text
    hook = r.json()
    assert hook["isEnabled"] is True and hook["type"] == "CUSTOMER_WEBHOOK" and isinstance(hook["createdTime"], int)
    assert s.post(url, json={"url": post_ok, "subscriptions": SUBS}).status_code == 200
    r = s.post(url, json={"url": dead, "subscriptions": SUBS})
    assert (r.status_code, r.json()["errorCode"]) == (422, "UNPROCESSABLE_ENTITY")
    r = s.patch(f"{url}/{hook['id']}", json={"url": dead})
    assert r.status_code == 422
    r = s.patch(f"{url}/{hook['id']}", json={"name": "renamed"})
    assert r.json()["name"] == "renamed"
    assert len(s.get(url).json()["data"]) == 2
    assert s.get(f"{url}/{hook['id']}").json()["url"] == get_ok
    assert s.delete(f"{url}/{hook['id']}").status_code == 204
    assert s.get(f"{url}/{hook['id']}").status_code == 404
    srv.fake.configure(webhook_url_validation=False)
    assert s.post(url, json={"url": dead, "subscriptions": SUBS}).status_code == 200


@pytest.mark.parametrize(("body", "field"), [
    ({"subscriptions": SUBS}, "/url"),
    ({"url": "http://127.0.0.1:9/x"}, "/subscriptions"),
    ({"url": "http://127.0.0.1:9/x", "subscriptions": {"Ticket_Explode": None}}, "/subscriptions/Ticket_Explode"),
    ({"url": "http://127.0.0.1:9/x", "subscriptions": {"Ticket_Add": {"includePrevState": True}}},
     "/subscriptions/Ticket_Add"),
    ({"url": "ftp://x", "subscriptions": SUBS}, "/url"),
    ({"url": "http://127.0.0.1:9/x", "subscriptions": SUBS, "secret": "s"}, "/secret"),
])
def test_webhook_body_errors(shared: FakeZohoServer, body: dict, field: str) -> None:
    r = session(shared).post(shared.api_url + "/webhooks", json=body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["fieldName"] == field


def test_webhook_body_not_json(shared: FakeZohoServer) -> None:
    r = session(shared).post(shared.api_url + "/webhooks", data="{nope")
    assert (r.status_code, r.json()["errorCode"]) == (422, "INVALID_DATA")


def test_webhook_edition_limit(srv: FakeZohoServer) -> None:
    srv.fake.configure(webhook_url_validation=False)
    s = session(srv)
    url = srv.api_url + "/webhooks"
    for i in range(5):
        assert s.post(url, json={"url": f"http://127.0.0.1:9/{i}", "subscriptions": SUBS}).status_code == 200
    r = s.post(url, json={"url": "http://127.0.0.1:9/6", "subscriptions": SUBS})
    assert r.status_code == 403
    assert r.json()["errorCode"] == "LICENSE_ACCESS_LIMITED" and r.json()["maxAllowedEntity"] == "5"
    assert (r.json()["feature"], r.json()["editionType"]) == ("WEBHOOKS", "PROFESSIONAL")
    disabled = s.post(url, json={"url": "http://127.0.0.1:9/7", "subscriptions": SUBS, "isEnabled": False})
    assert disabled.status_code == 200  # configured but not enabled: allowed
    assert s.patch(f"{url}/{disabled.json()['id']}", json={"isEnabled": True}).status_code == 403
    srv.fake.configure(webhook_enabled_limit=10)
    assert s.patch(f"{url}/{disabled.json()['id']}", json={"isEnabled": True}).status_code == 200


def test_delivery_is_signed_like_zoho(srv: FakeZohoServer) -> None:
    import jwt
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    received: list[tuple[dict, list]] = []

    async def hook(request):
        if request.method == "POST":
            received.append((dict(request.headers), json.loads(await request.body())))
        return Response(status_code=200)

    # A minimal receiver standing in for the collector.
    app = Starlette(routes=[Route("/hook", hook, methods=["GET", "POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        fake = srv.fake
        hook_id = session(srv).post(srv.api_url + "/webhooks", json={
            "url": f"http://127.0.0.1:{port}/hook", "subscriptions": SUBS}).json()["id"]
        ticket_id = fake.ids("tickets", 1)[0]
        fake.update("tickets", ticket_id, subject="x")
        results = fake.deliver([fake.webhook_event("tickets", ticket_id)])
        assert results == [(hook_id, 200)]
        headers, body = received[0]
        assert body[0]["eventType"] == "Ticket_Update"
        keys = requests.get(srv.base_url + "/.well-known/jwks.json").json()["keys"]
        public = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(keys[0]))
        claims = jwt.decode(headers["x-zdesk-jwt"], public, algorithms=["RS256"],
                            audience=f"webhookId:{hook_id}", issuer=f"orgId:{defaults.ORG_ID}")
        assert claims["exp"] > claims["iat"]
    finally:
        server.should_exit = True
        thread.join(timeout=5)


# ---- Process entry point ------------------------------------------------------------------------
def test_module_entry_point_prints_urls_and_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "integration_tests.fake_zoho", "--port", "0", "--tickets", "500", "--latency-ms", "1"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        urls = json.loads(proc.stdout.readline())
        assert set(urls) == {"base_url", "api_url", "accounts_url"}
        body = requests.post(urls["accounts_url"] + "/oauth/v2/token", params={
            "grant_type": "refresh_token", "refresh_token": defaults.REFRESH_TOKEN,
            "client_id": defaults.CLIENT_ID, "client_secret": defaults.CLIENT_SECRET}, timeout=10).json()
        r = requests.get(urls["api_url"] + "/tickets", params={"from": 400, "limit": 100}, timeout=10,
                         headers={"Authorization": "Zoho-oauthtoken " + body["access_token"], "orgId": defaults.ORG_ID})
        assert len(r.json()["data"]) == 100
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_server_config_helper(shared: FakeZohoServer) -> None:
    config = shared.config(start_date="2024-01-01T00:00:00Z")
    assert config["api_url"] == shared.api_url and config["accounts_url"] == shared.base_url
    assert config["credentials"]["refresh_token"] == defaults.REFRESH_TOKEN
    assert config["org_id"] == defaults.ORG_ID and config["start_date"] == "2024-01-01T00:00:00Z"
