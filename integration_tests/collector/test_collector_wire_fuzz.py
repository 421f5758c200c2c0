"""Garbage on the wire to the real uvicorn process: it answers 4xx or closes, never 5xx, never dies."""

from __future__ import annotations

import json
import socket

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration_tests.collector.collector_proc import CollectorProcess

ORG = "60005555"
GOOD_BODY = json.dumps([{"eventType": "Ticket_Add", "orgId": ORG, "payload": {"id": "w"}}]).encode()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    proc = CollectorProcess(tmp_path_factory.mktemp("wire") / "data", extra=("--body-limit", "2048")).start()
    src = proc.create_source(ORG)
    try:
        yield proc, src
    finally:
        proc.stop()


def send_raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


header_line = st.tuples(
    st.sampled_from([b"Content-Type", b"Content-Length", b"Transfer-Encoding", b"X-ZDesk-JWT", b"Host", b"Expect"]),
    st.one_of(st.binary(max_size=30).filter(lambda b: b"\r" not in b and b"\n" not in b),
              st.sampled_from([b"application/json", b"chunked", b"100-continue", b"-1", b"99999999999", b"5"])),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from([b"POST", b"GET", b"HEAD", b"PUT", b"BREW", b""]),
    target=st.sampled_from(["hook", "other", "garbage"]),
    version=st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9.9", b""]),
    headers=st.lists(header_line, max_size=4),
    body=st.one_of(st.binary(max_size=3000), st.just(GOOD_BODY)),
    tail=st.binary(max_size=20),
)
def test_malformed_http_never_yields_5xx_or_kills_the_process(live, method, target, version, headers, body, tail):
    proc, src = live
    path = {"hook": src["service_path"].encode(), "other": b"/metrics", "garbage": b"/\x00\xff%%%"}[target]
    head = method + b" " + path + b" " + version + b"\r\nHost: 127.0.0.1\r\n"
    head += b"".join(k + b": " + v + b"\r\n" for k, v in headers)
    answer = send_raw(proc.port, head + b"\r\n" + body + tail)
    if answer.startswith(b"HTTP/1.1 "):
        status = int(answer[9:12])
        assert status < 500 or status == 505 and version == b"HTTP/9.9", answer[:300]
    assert proc.proc.poll() is None, "the collector died"


def test_still_healthy_and_storing_after_the_fuzz(live):
    proc, src = live
    assert requests.get(proc.url + "/health", timeout=5).json() == {"status": "ok"}
    r = requests.post(src["service_url"], json=[{"eventType": "Ticket_Add", "orgId": ORG, "payload": {"id": "1"}}],
                      timeout=5)
    assert r.status_code == 200 and json.loads(r.text)["stored"] in (0, 1)
