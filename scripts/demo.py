"""The sandbox demo: a full sync of the bundled fake Zoho Desk, then webhook events and an incremental sync.

Everything runs on 127.0.0.1: the fake Zoho Desk (the embedded sandbox), the webhook collector, and the
connector itself through its real command line (spec → check → discover → read), as a user would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import catalog, free_port  # noqa: E402  (the configured-catalog helper the benchmarks use)
from integration_tests.fake_zoho.server import running_fake_zoho  # noqa: E402
from integration_tests.fake_zoho.state import FakeZoho  # noqa: E402

WORK = ROOT / ".demo"
CONNECTOR = [sys.executable, "-m", "source_zoho_desk"]
INCREMENTAL_STREAMS = ("tickets", "contacts")


def run_connector(*args: str) -> list[dict[str, Any]]:
    completed = subprocess.run([*CONNECTOR, *args], capture_output=True, text=True, cwd=WORK, check=False)
    messages = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0:
        errors = [m["trace"]["error"]["message"] for m in messages if m["type"] == "TRACE"]
        raise SystemExit(f"`source-zoho-desk {args[0]}` failed: {errors or completed.stderr[-2000:]}")
    return messages


def heading(text: str) -> None:
    print(f"\n== {text}")


def summary(messages: list[dict[str, Any]]) -> Counter[str]:
    counts = Counter(m["record"]["stream"] for m in messages if m["type"] == "RECORD")
    for stream, count in sorted(counts.items()):
        print(f"  {stream:<24} {count:>6} records")
    credits = [m["log"]["message"] for m in messages if m["type"] == "LOG" and "credits used" in m["log"]["message"]]
    if credits:
        print("  " + credits[-1].split(". ")[0])
    return counts


def start_collector(port: int) -> subprocess.Popen[bytes]:
    data_dir = WORK / "collector"
    process = subprocess.Popen(
        [*CONNECTOR, "collector", "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
         "--public-base-url", f"http://127.0.0.1:{port}", "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the webhook collector did not start")


def create_source(port: int, org_id: str) -> dict[str, Any]:
    out = subprocess.run(
        [*CONNECTOR, "collector", "create-source", "--org-id", org_id, "--name", "demo",
         "--data-dir", str(WORK / "collector"), "--public-base-url", f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def write_json(name: str, value: Any) -> str:
    path = WORK / name
    path.write_text(json.dumps(value, indent=2))
    return str(path)


def last_states(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for message in messages:
        if message["type"] == "STATE" and message["state"].get("type") == "STREAM":
            latest[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
    return list(latest.values())


def main() -> None:
    WORK.mkdir(exist_ok=True)
    for stale in (WORK / "collector").glob("*"):
        stale.unlink()
    fake = FakeZoho(sizes={"tickets": 250})
    with running_fake_zoho(fake) as server:
        heading(f"Fake Zoho Desk (the embedded sandbox) at {server.base_url}")
        config = server.config(page_size=100)
        config_path = write_json("config.json", config)

        heading("spec")
        spec = run_connector("spec")[-1]["spec"]
        print(f"  {len(spec['connectionSpecification']['properties'])} config fields")

        heading("check")
        status = [m for m in run_connector("check", "--config", config_path) if m["type"] == "CONNECTION_STATUS"]
        print(f"  {status[0]['connectionStatus']['status']}")

        heading("discover")
        discovered = [m for m in run_connector("discover", "--config", config_path) if m["type"] == "CATALOG"][0]
        print(f"  {len(discovered['catalog']['streams'])} streams")

        heading("read (full refresh, every stream)")
        full = write_json("catalog_full.json", catalog(discovered["catalog"]["streams"], None, "full_refresh"))
        summary(run_connector("read", "--config", config_path, "--catalog", full))

        port = free_port()
        collector = start_collector(port)
        try:
            source = create_source(port, fake.org_id)
            heading(f"Webhook collector at http://127.0.0.1:{port}; service URL for Zoho: {source['service_url']}")
            config["incremental"] = {
                "mode": "webhook_and_polling",
                "collector_url": f"http://127.0.0.1:{port}",
                "collector_credential": source["drain_credential"],
                "data_source_id": source["data_source_id"],
            }
            config_path = write_json("config.json", config)
            discovered = [m for m in run_connector("discover", "--config", config_path) if m["type"] == "CATALOG"][0]
            streams = discovered["catalog"]["streams"]
            incremental = write_json("catalog_incremental.json", catalog(streams, INCREMENTAL_STREAMS, "incremental"))

            heading(f"first incremental sync of {', '.join(INCREMENTAL_STREAMS)} (snapshot; records queue head)")
            first = run_connector("read", "--config", config_path, "--catalog", incremental)
            summary(first)
            state_path = write_json("state.json", last_states(first))

            heading("changes in Zoho Desk, delivered by webhook to the collector")
            tickets = fake.ids("tickets", 3)
            events = [
                fake.webhook_event("tickets", fake.update("tickets", tickets[0], subject="Printer on fire")["id"]),
                fake.webhook_event("contacts", fake.create("contacts", lastName="Newcustomer")["id"]),
                fake.webhook_event("tickets", fake.delete("tickets", tickets[1])["id"]),
            ]
            response = requests.post(source["service_url"], json=events, timeout=10)
            for event in events:
                print(f"  {event['eventType']:<16} id {event['payload']['id']}")
            print(f"  collector answered {response.status_code}")

            heading("incremental sync: exactly the changes")
            second = run_connector("read", "--config", config_path, "--catalog", incremental, "--state", state_path)
            for message in second:
                if message["type"] == "RECORD":
                    data = message["record"]["data"]
                    what = "DELETED" if data.get("_ab_cdc_deleted_at") else (
                        data.get("subject") or data.get("lastName") or "")
                    print(f"  {message['record']['stream']:<16} {data['id']}  {what}")
            summary(second)
            write_json("state.json", last_states(second))
        finally:
            collector.terminate()
            collector.wait(timeout=30)
    print(f"\nDemo files (config, catalogs, state) are in {WORK}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
