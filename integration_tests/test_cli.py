"""The installed command line, as real subprocesses: `exchange-code` prints or stores the refresh token, and the
Airbyte commands speak the protocol on stdout (CONTROL config after a grant-code exchange, config-error traces)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from integration_tests.fake_zoho import defaults

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "source_zoho_desk", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=TIMEOUT_S)


def messages(stdout: str) -> list[dict[str, Any]]:
    out = []
    for line in stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and "type" in message:
            out.append(message)
    return out


def grant_code_config(zoho, tmp_path: Path, code: str) -> Path:
    config = zoho.config()
    config["credentials"] = {"client_id": defaults.CLIENT_ID, "client_secret": defaults.CLIENT_SECRET,
                             "grant_code": code}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def test_exchange_code_prints_the_refresh_token(zoho, tmp_path):
    path = grant_code_config(zoho, tmp_path, zoho.fake.issue_grant_code())
    before = path.read_text()

    done = cli("exchange-code", "--config", str(path))

    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert zoho.fake.accounts.refresh_tokens.get(token) == defaults.CLIENT_ID, "not a token the fake issued"
    assert path.read_text() == before, "without --write the config file is left alone"


def test_exchange_code_write_stores_the_token_and_drops_the_code(zoho, tmp_path, connector):
    path = grant_code_config(zoho, tmp_path, zoho.fake.issue_grant_code())

    done = cli("exchange-code", "--config", str(path), "--write")

    assert done.returncode == 0, done.stderr
    assert "credentials.refresh_token" in done.stdout
    stored = json.loads(path.read_text())
    assert "grant_code" not in stored["credentials"]
    token = stored["credentials"]["refresh_token"]
    assert zoho.fake.accounts.refresh_tokens.get(token) == defaults.CLIENT_ID
    # The stored config works as it is.
    assert connector.check(stored).status.status.value == "SUCCEEDED"


def test_exchange_code_with_an_expired_code_names_the_field(zoho, tmp_path):
    path = grant_code_config(zoho, tmp_path, zoho.fake.issue_grant_code(ttl=-1))

    done = cli("exchange-code", "--config", str(path), "--write")

    assert done.returncode == 1
    assert "credentials.grant_code" in done.stderr
    assert "grant_code" in json.loads(path.read_text())["credentials"], "a failed exchange must not touch the file"


def test_check_with_a_grant_code_prints_one_control_message(zoho, tmp_path):
    path = grant_code_config(zoho, tmp_path, zoho.fake.issue_grant_code())

    done = cli("check", "--config", str(path))

    assert done.returncode == 0, done.stderr
    out = messages(done.stdout)
    controls = [m for m in out if m["type"] == "CONTROL"]
    assert len(controls) == 1
    emitted = controls[0]["control"]["connectorConfig"]["config"]
    assert "grant_code" not in emitted["credentials"]
    assert zoho.fake.accounts.refresh_tokens.get(emitted["credentials"]["refresh_token"]) == defaults.CLIENT_ID
    [status] = [m for m in out if m["type"] == "CONNECTION_STATUS"]
    assert status["connectionStatus"]["status"] == "SUCCEEDED"


def test_read_with_an_invalid_config_emits_a_config_error_trace(zoho, tmp_path):
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(zoho.config(page_size=500)))
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps({"streams": [{
        "stream": {"name": "tickets", "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
        "sync_mode": "full_refresh", "destination_sync_mode": "overwrite",
    }]}))

    done = cli("read", "--config", str(config_path), "--catalog", str(catalog_path))

    assert done.returncode != 0
    traces = [m["trace"]["error"] for m in messages(done.stdout) if m["type"] == "TRACE"
              and m["trace"]["type"] == "ERROR"]
    assert traces, done.stdout[-2000:]
    assert traces[0]["failure_type"] == "config_error"
    assert "500 is greater than the maximum of 100" in traces[0]["message"]
