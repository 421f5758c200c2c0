"""Optional X-ZDesk-JWT verification, with an RSA key the test generates (JWKS from a file and from a URL)."""

from __future__ import annotations

import http.server
import json
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient

from source_zoho_desk.collector.app import create_app
from source_zoho_desk.collector.jwt import JwtRejected, JwtVerifier
from source_zoho_desk.collector.settings import Settings
from unit_tests.collector.collector_helpers import ORG, event, make_source


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY, OTHER_KEY = new_key(), new_key()


def jwks(key, kid="k1") -> dict:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}


def token(key=KEY, kid="k1", alg="RS256", **claims) -> str:
    now = int(time.time())
    body = {"iss": f"orgId:{ORG}", "aud": "webhookId:4000000012345", "iat": now, "exp": now + 300, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def jwks_file(tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(KEY)))
    return path


@pytest.fixture
def jwt_app(tmp_path, jwks_file):
    settings = Settings(data_dir=tmp_path / "d", jwks_file=jwks_file)
    with TestClient(create_app(settings)) as client:
        yield client, make_source(settings)


def post(client, src, jwt_header):
    headers = {} if jwt_header is None else {"X-ZDesk-JWT": jwt_header}
    return client.post(src.hook, json=[event()], headers=headers)


def test_valid_jwt_is_accepted(jwt_app):
    client, src = jwt_app
    assert post(client, src, token()).status_code == 200


@pytest.mark.parametrize(
    "make",
    [
        lambda: None,
        lambda: "",
        lambda: "not.a.jwt",
        lambda: "x" * 10000,
        lambda: token(iss="orgId:99999"),  # another org's webhook
        lambda: token(aud="someone-else"),
        lambda: token(exp=int(time.time()) - 3600),
        lambda: token(exp=None),
        lambda: token(key=OTHER_KEY),  # right kid, wrong signature
        lambda: token(kid="unknown"),
        lambda: token(key="a-shared-secret-long-enough-for-hs256!", alg="HS256"),
        lambda: jwt.encode({"iss": f"orgId:{ORG}", "aud": "webhookId:1"}, None, algorithm="none"),
    ],
)
def test_bad_jwt_is_rejected_with_401_and_nothing_stored(jwt_app, make):
    client, src = jwt_app
    r = post(client, src, make())
    assert r.status_code == 401 and r.json()["error"] == "invalid_jwt"
    events = client.get(f"/v1/sources/{src.id}/partitions/tickets/events", headers=src.drain_headers()).json()
    assert events["events"] == []


def test_zoho_validation_without_jwt_still_passes(jwt_app):
    client, src = jwt_app
    assert client.get(src.hook).status_code == 200
    assert client.post(src.hook).status_code == 200  # empty validation POST stores nothing


def test_jwks_from_url_is_fetched_and_cached():
    body = json.dumps(jwks(KEY)).encode()
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        verifier = JwtVerifier(jwks_url=f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json")
        assert verifier.verify(token(), ORG)["iss"] == f"orgId:{ORG}"
        verifier.verify(token(), ORG)
        assert hits == ["/.well-known/jwks.json"]
        with pytest.raises(JwtRejected):
            verifier.verify(token(), "another-org")
    finally:
        server.shutdown()


def test_unreachable_jwks_url_rejects_not_crashes():
    verifier = JwtVerifier(jwks_url="http://127.0.0.1:9/jwks.json")
    with pytest.raises(JwtRejected):
        verifier.verify(token(), ORG)


def test_exactly_one_jwks_source():
    with pytest.raises(ValueError):
        JwtVerifier()
