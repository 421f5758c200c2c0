"""The collector as deployed (uvicorn subprocess): Zoho URL check, revocation, isolation, QueueClient, TLS, shutdown."""

from __future__ import annotations

import datetime
import ipaddress
import threading
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from integration_tests.collector.collector_proc import CollectorProcess, cli
from source_zoho_desk.queue_client import (
    CollectorAuthError,
    CollectorProtocolError,
    CollectorUnavailable,
    QueueClient,
    QueuedEvent,
)

ORG = "60001111"


def event(entity: str, event_type: str = "Ticket_Update", org: str = ORG) -> dict:
    return {"eventType": event_type, "eventTime": "1700000000000", "orgId": org, "payload": {"id": entity},
            "prevState": {"id": entity, "status": "Open"}}


def client_for(collector: CollectorProcess, src: dict, **kw) -> QueueClient:
    return QueueClient(collector.url, src["drain_credential"], src["data_source_id"], **kw)


def test_zoho_saves_a_webhook_get_then_post(collector):
    src = collector.create_source(ORG, "eu")
    assert src["service_url"].startswith(collector.url + "/hooks/")
    assert requests.get(src["service_url"], timeout=5).status_code == 200
    assert requests.head(src["service_url"], timeout=5).status_code == 200
    assert requests.post(src["service_url"], timeout=5).status_code == 200
    r = requests.post(src["service_url"], json=[event("1")], timeout=5)
    assert r.status_code == 200 and r.json() == {"stored": 1, "duplicates": 0}


def test_rotated_url_gets_404_at_once(collector):
    src = collector.create_source(ORG)
    new = cli(collector.data_dir, "rotate-url", src["data_source_id"], base_url=collector.url)
    for method in ("get", "head", "post"):
        assert requests.request(method, src["service_url"], timeout=5).status_code == 404
    assert requests.post(new["service_url"], json=[event("1")], timeout=5).status_code == 200
    listed = cli(collector.data_dir, "list-sources")["sources"]
    assert [s["id"] for s in listed] == [src["data_source_id"]]


def test_queue_client_round_trip(collector):
    src = collector.create_source(ORG)
    client = client_for(collector, src)
    assert client.head("tickets") == 0
    for i in range(25):
        assert requests.post(src["service_url"], json=[event(str(i))], timeout=5).status_code == 200
    first = client.drain("tickets", 0, 10)
    assert len(first) == 10 and all(isinstance(e, QueuedEvent) for e in first)
    assert first[0].payload == {"id": "0"} and first[0].prev_state == {"id": "0", "status": "Open"}
    assert (first[0].event_type, first[0].event_time_ms, first[0].org_id) == ("Ticket_Update", 1700000000000, ORG)
    assert first[0].received_at > 1700000000000
    everything = list(client.iter_events("tickets", 0, page_size=7))
    assert [e.payload["id"] for e in everything] == [str(i) for i in range(25)]
    head = client.head("tickets")
    assert head == everything[-1].seq
    client.acknowledge("tickets", everything[9].seq)
    assert [e.payload["id"] for e in client.iter_events("tickets", 0)][0] == "10"
    client.acknowledge("tickets", head)
    assert client.drain("tickets", 0, 100) == [] and client.head("tickets") == head
    with pytest.raises(CollectorProtocolError):
        client.acknowledge("tickets", head + 10**6)


def test_cross_source_drain_and_ack_fail_with_config_hints(collector):
    a, b = collector.create_source(ORG), collector.create_source("60002222")
    assert requests.post(a["service_url"], json=[event("a")], timeout=5).status_code == 200
    wrong_cred = QueueClient(collector.url, b["drain_credential"], a["data_source_id"])
    for call in (lambda: wrong_cred.drain("tickets", 0, 10), lambda: wrong_cred.head("tickets"),
                 lambda: wrong_cred.acknowledge("tickets", 1)):
        with pytest.raises(CollectorAuthError, match="incremental.collector_credential"):
            call()
    assert [e.payload["id"] for e in client_for(collector, a).drain("tickets", 0, 10)] == ["a"]  # nothing acked
    assert client_for(collector, b).drain("tickets", 0, 10) == []
    url_token_as_cred = QueueClient(collector.url, a["service_url"].rsplit("/", 1)[1], a["data_source_id"])
    with pytest.raises(CollectorAuthError, match="incremental.data_source_id"):
        url_token_as_cred.drain("tickets", 0, 10)
    wrong_base = QueueClient(collector.url + "/hooks", a["drain_credential"], a["data_source_id"])
    with pytest.raises(CollectorAuthError, match="incremental.collector_url"):
        wrong_base.head("tickets")


def test_queue_client_reports_unreachable_collector(collector):
    src = collector.create_source(ORG)
    collector.stop()
    client = client_for(collector, src, retries=2, backoff_s=0.01, timeout_s=2)
    with pytest.raises(CollectorUnavailable, match="incremental.collector_url"):
        client.head("tickets")


def test_sigterm_finishes_in_flight_requests_and_keeps_every_200(collector):
    src = collector.create_source(ORG)
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def post(n: int) -> None:
        s = requests.Session()
        i = 0
        while not stop.is_set():
            i += 1
            entity = f"{n}-{i}"
            try:
                ok = s.post(src["service_url"], json=[event(entity)], timeout=10).status_code == 200
            except requests.RequestException:
                ok = False
            with lock:
                results.append((entity, ok))
            if not ok:
                return

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    while len(results) < 500:
        threading.Event().wait(0.01)
    # uvicorn finishes in-flight requests, runs the app's shutdown, then re-raises SIGTERM (exit -15)
    assert collector.terminate() in (0, -15)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert "collector stopped" in collector.log()
    collector.start()
    stored = {e.payload["id"] for e in client_for(collector, src).iter_events("tickets", 0)}
    acked = {entity for entity, ok in results if ok}
    assert acked <= stored and len(acked) >= 500


def self_signed(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_from_cert_and_key_files(tmp_path):
    cert, key = self_signed(tmp_path)
    proc = CollectorProcess(tmp_path / "tls", extra=("--tls-cert", str(cert), "--tls-key", str(key)), scheme="https")
    proc.start()
    try:
        src = proc.create_source(ORG)
        assert src["service_url"].startswith("https://")
        assert requests.get(src["service_url"], verify=str(cert), timeout=5).status_code == 200
        r = requests.post(src["service_url"], json=[event("tls")], verify=str(cert), timeout=5)
        assert r.status_code == 200
        with pytest.raises(requests.ConnectionError):
            requests.get(src["service_url"].replace("https://", "http://"), timeout=5)
    finally:
        proc.stop()


def test_proxy_headers_and_admin_endpoint(tmp_path):
    token_file = tmp_path / "admin-token"
    token_file.write_text("s3cret-admin\n")
    proc = CollectorProcess(tmp_path / "px", extra=("--proxy-headers", "--admin-token-file", str(token_file)))
    proc.start()
    try:
        r = requests.post(proc.url + "/admin/sources", json={"org_id": ORG},
                          headers={"Authorization": "Bearer s3cret-admin"}, timeout=5)
        assert r.status_code == 201
        src = r.json()
        forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        r = requests.post(src["service_url"], json=[event("p")], timeout=5, headers=forwarded)
        assert r.status_code == 200
        r = requests.post(src["service_url"], data=b"not json", timeout=5,
                          headers={**forwarded, "Content-Type": "application/json"})
        assert r.status_code == 400
        # A rejected delivery is logged with the real client behind the proxy, just after the answer.
        deadline = time.monotonic() + 5
        while "203.0.113.9" not in proc.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "203.0.113.9" in proc.log()
        assert src["service_url"].rsplit("/", 1)[1] not in proc.log()  # and never the token
    finally:
        proc.stop()
