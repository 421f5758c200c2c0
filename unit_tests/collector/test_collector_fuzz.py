"""Fuzzing the webhook endpoint with hypothesis: no input may yield a 500 or crash, nothing stored half-way."""

from __future__ import annotations

import json
import sqlite3

import hypothesis
import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from source_zoho_desk.collector.app import create_app
from source_zoho_desk.collector.events import PARTITIONS
from source_zoho_desk.collector.settings import Settings
from unit_tests.collector.collector_helpers import ORG, make_source

BODY_LIMIT = 4096


class Harness:
    """Drives the ASGI app with raw scopes: header bytes and body chunking no HTTP client would produce."""

    def __init__(self, tmp_path_factory):
        self.settings = Settings(data_dir=tmp_path_factory.mktemp("fuzz"), body_limit=BODY_LIMIT)
        self.app = create_app(self.settings)

    def __enter__(self):
        self.portal_cm = start_blocking_portal()
        self.portal = self.portal_cm.__enter__()
        starlette = self.app.starlette
        self.lifespan = self.portal.wrap_async_context_manager(starlette.router.lifespan_context(starlette))
        self.lifespan.__enter__()
        self.src = make_source(self.settings)
        return self

    def __exit__(self, *exc):
        self.lifespan.__exit__(None, None, None)
        self.portal_cm.__exit__(None, None, None)

    def stored(self) -> int:
        conn = sqlite3.connect(self.settings.queue_path)
        try:
            return conn.execute("SELECT count(*) FROM events").fetchone()[0]
        finally:
            conn.close()

    def request(self, method: str, path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes],
                hang_up: bool = False):
        return self.portal.call(self._request, method, path, headers, chunks, hang_up)

    async def _request(self, method, path, headers, chunks, hang_up):
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode("utf-8", "surrogateescape"),
            "query_string": b"", "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000),
            "server": ("collector.test", 80),
        }
        # hang_up: the last chunk promises more body, then the client disconnects
        pending = [{"type": "http.request", "body": c, "more_body": hang_up or i < len(chunks) - 1}
                   for i, c in enumerate(chunks)]
        pending = pending or [{"type": "http.request", "body": b"", "more_body": False}]
        sent: list[dict] = []

        async def receive():
            return pending.pop(0) if pending else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        await self.app(scope, receive, send)  # an exception here is a crash: the test fails
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return status, body


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    with Harness(tmp_path_factory) as h:
        yield h


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=12,
)
event_types = st.one_of(
    st.sampled_from(["Ticket_Add", "Ticket_Update", "Contact_Delete", "TimeEntry_Add", "IM_Session_Status", "Odd_X"]),
    st.text(max_size=20), json_values,
)
events = st.fixed_dictionaries(
    {},
    optional={
        "eventType": event_types,
        "eventTime": st.one_of(st.integers(min_value=-5, max_value=2**60).map(str), st.integers(), json_values),
        "orgId": st.one_of(st.just(ORG), st.just(int(ORG)), st.text(max_size=12), json_values),
        "payload": st.one_of(st.dictionaries(st.sampled_from(["id", "subject", "ticketId"]), json_values), json_values),
        "prevState": json_values,
        "extra": json_values,
    },
)
# Mostly-valid events, each field swapped for junk now and then: reaches routing and the store.
near_valid_events = st.fixed_dictionaries(
    {
        "eventType": st.one_of(st.sampled_from(sorted(PARTITIONS)), st.sampled_from(["Odd_Type", "X"]), event_types),
        "eventTime": st.one_of(st.integers(min_value=0, max_value=2**50).map(str), json_values),
        "orgId": st.one_of(st.just(ORG), st.just(ORG), st.just(ORG), json_values),
        "payload": st.one_of(
            st.fixed_dictionaries({"id": st.one_of(st.text(max_size=10), st.integers())}, optional={"x": json_values}),
            json_values,
        ),
    },
    optional={"prevState": st.one_of(st.none(), st.dictionaries(st.text(max_size=5), json_values, max_size=3))},
)
json_bodies = st.one_of(st.lists(events, max_size=5), events, json_values).map(
    lambda v: json.dumps(v, ensure_ascii=False)
)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1", "cp1252"])
bodies = st.one_of(
    st.binary(max_size=600),
    st.tuples(json_bodies, encodings).map(lambda t: t[0].encode(t[1], errors="replace")),
    st.integers(min_value=BODY_LIMIT - 10, max_value=BODY_LIMIT * 3).map(lambda n: b"[" + b" " * n + b"]"),
    st.just(b"[" * 5000 + b"]" * 5000),
    st.just(b'[{"eventType":"Ticket_Add","orgId":"%s","payload":{"id":"\\ud800"}}]' % ORG.encode()),
)
content_types = st.one_of(
    st.sampled_from([b"application/json", b"application/json; charset=utf-8", b"application/json; charset=utf-16",
                     b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x",
                     b"application/json;;;", b"APPLICATION/JSON", b"application/ld+json"]),
    st.binary(max_size=40),
)
header_lists = st.lists(
    st.tuples(st.binary(min_size=1, max_size=20).map(bytes.lower), st.binary(max_size=60)), max_size=5
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    method=st.sampled_from(["POST", "POST", "POST", "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"]),
    path_kind=st.sampled_from(["hook", "hook", "hook", "bad_token", "random", "drain"]),
    random_path=st.text(max_size=40),
    body=bodies,
    content_type=st.one_of(st.none(), content_types),
    content_length=st.one_of(st.none(), st.just("exact"), st.integers(min_value=-5, max_value=10**12).map(str),
                             st.text(max_size=8)),
    extra_headers=header_lists,
    jwt_header=st.one_of(st.none(), st.binary(max_size=100)),
    chunk_sizes=st.lists(st.integers(min_value=1, max_value=500), max_size=6),
    hang_up=st.booleans(),
)
def test_no_input_yields_a_500_or_half_a_batch(
    harness, method, path_kind, random_path, body, content_type, content_length, extra_headers, jwt_header, chunk_sizes,
    hang_up,
):
    src = harness.src
    path = {
        "hook": src.hook,
        "bad_token": src.hook[:-1] + ("A" if src.hook[-1] != "A" else "B"),
        "random": "/" + random_path,
        "drain": f"/v1/sources/{src.id}/partitions/{random_path or 'x'}/events",
    }[path_kind]
    headers = list(extra_headers)
    if content_type is not None:
        headers.append((b"content-type", content_type))
    if content_length == "exact":
        headers.append((b"content-length", str(len(body)).encode()))
    elif content_length is not None:
        headers.append((b"content-length", content_length.encode("utf-8", "replace")))
    if jwt_header is not None:
        headers.append((b"x-zdesk-jwt", jwt_header))
    chunks, rest = [], body
    for size in chunk_sizes:
        chunks.append(rest[:size])
        rest = rest[size:]
    chunks.append(rest)

    before = harness.stored()
    status, response = harness.request(method, path, headers, chunks, hang_up)
    after = harness.stored()

    hypothesis.event(f"{method} {path_kind} -> {status}")
    assert status < 500, (status, response[:300])
    if method == "POST" and path_kind == "hook" and status == 200:
        answer = json.loads(response)
        assert after - before == answer["stored"]  # everything it says it stored, nothing else
    else:
        assert after == before  # a refused request leaves no trace
    if status >= 400 and method != "HEAD":
        assert "error" in json.loads(response)


def test_fuzzer_reaches_the_store_path(harness):
    # guard against a fuzz run that only ever exercises rejections
    status, response = harness.request(
        "POST", harness.src.hook, [(b"content-type", b"application/json")],
        [json.dumps([{"eventType": "Ticket_Add", "orgId": ORG, "payload": {"id": "fz"}}]).encode()],
    )
    assert status == 200 and json.loads(response)["stored"] in (0, 1)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(
    body=st.one_of(
        st.lists(near_valid_events, min_size=1, max_size=6).map(json.dumps),
        st.lists(near_valid_events, min_size=1, max_size=6).map(lambda v: json.dumps(v, ensure_ascii=False)),
        json_bodies,
    ),
    encoding=st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16"]),
    chunk=st.integers(min_value=1, max_value=200),
)
def test_event_bodies_are_stored_whole_or_refused_whole(harness, body, encoding, chunk):
    # Well-formed requests whose events are random: exercises validation, routing and the store itself.
    raw = body.encode(encoding, errors="replace")
    chunks = [raw[i : i + chunk] for i in range(0, len(raw), chunk)]
    before = harness.stored()
    status, response = harness.request(
        "POST", harness.src.hook, [(b"content-type", b"application/json")], chunks
    )
    after = harness.stored()
    hypothesis.event(f"-> {status} {json.loads(response).get('error', '')}")
    assert status in (200, 400, 403, 413), response[:300]
    if status == 200:
        assert after - before == json.loads(response)["stored"]
    else:
        assert after == before
