"""`source-zoho-desk collector` management commands: create-source, rotate-url, rotate-credential, list-sources."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from source_zoho_desk.collector.cli import main
from source_zoho_desk.collector.sources import SQLiteSourceRegistry


def run(capsys, *argv) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


def test_create_source_prints_url_credential_and_id(tmp_path, capsys):
    code, out, _ = run(capsys, "create-source", "--org-id", "6000123", "--name", "EU desk",
                       "--data-dir", str(tmp_path), "--public-base-url", "https://hooks.example.com/")
    assert code == 0
    assert out["service_url"].startswith("https://hooks.example.com/hooks/")
    assert out["drain_credential"].startswith("zdc_") and out["data_source_id"].startswith("ds_")
    assert (out["org_id"], out["name"]) == ("6000123", "EU desk")
    reg = SQLiteSourceRegistry(tmp_path / "sources.db")
    try:
        assert reg.by_url_token(out["service_url"].rsplit("/", 1)[1]).id == out["data_source_id"]
        assert reg.check_credential(out["data_source_id"], out["drain_credential"]) is not None
    finally:
        reg.close()


def test_base_url_from_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOHO_COLLECTOR_PUBLIC_BASE_URL", "https://env.example")
    monkeypatch.setenv("ZOHO_COLLECTOR_DATA_DIR", str(tmp_path))
    code, out, _ = run(capsys, "create-source", "--org-id", "1")
    assert code == 0 and out["service_url"].startswith("https://env.example/hooks/")
    assert (tmp_path / "sources.db").exists()


def test_without_base_url_prints_the_path_and_warns(tmp_path, capsys):
    code, out, err = run(capsys, "create-source", "--org-id", "1", "--data-dir", str(tmp_path))
    assert code == 0 and out["service_url"] is None and out["service_path"].startswith("/hooks/")
    assert "public-base-url" in err


def test_rotate_and_list(tmp_path, capsys):
    d = ["--data-dir", str(tmp_path), "--public-base-url", "https://h.example"]
    _, created, _ = run(capsys, "create-source", "--org-id", "1", *d)
    code, rotated, _ = run(capsys, "rotate-url", created["data_source_id"], *d)
    assert code == 0 and rotated["service_url"] != created["service_url"] and "drain_credential" not in rotated
    code, cred, _ = run(capsys, "rotate-credential", created["data_source_id"], *d)
    assert code == 0 and cred["drain_credential"] != created["drain_credential"] and "service_url" not in cred
    code, listed, _ = run(capsys, "list-sources", *d)
    assert code == 0 and [s["id"] for s in listed["sources"]] == [created["data_source_id"]]
    assert created["drain_credential"] not in json.dumps(listed)


def test_errors_exit_non_zero(tmp_path, capsys):
    code, _, err = run(capsys, "rotate-url", "ds_0000000000000000", "--data-dir", str(tmp_path))
    assert code == 1 and "no data source" in err
    code, _, err = run(capsys, "create-source", "--org-id", "not an org", "--data-dir", str(tmp_path))
    assert code == 2 and "org id" in err
    with pytest.raises(SystemExit):
        main(["create-source", "--data-dir", str(tmp_path)])  # --org-id is required
    with pytest.raises(SystemExit):
        main([])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tls-cert", "c.pem"], "go together"),
        (["--jwks-url", "https://x/jwks", "--jwks-file", "j.json"], "not both"),
        (["--body-limit", "0"], "positive"),
        (["--dedupe-window-hours", "-1"], "negative"),
    ],
)
def test_serve_rejects_inconsistent_flags(tmp_path, capsys, args, message):
    assert main(["serve", "--data-dir", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_python_dash_m_entry_point(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "source_zoho_desk.collector", "create-source", "--org-id", "42",
         "--data-dir", str(tmp_path), "--public-base-url", "http://h"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert json.loads(out.stdout)["service_url"].startswith("http://h/hooks/")
    help_text = subprocess.run([sys.executable, "-m", "source_zoho_desk.collector", "--help"],
                               capture_output=True, text=True, timeout=120).stdout
    for command in ("serve", "create-source", "rotate-url", "rotate-credential", "list-sources"):
        assert command in help_text
