"""Shared plumbing of the benchmarks: the fake Zoho Desk and the collector as subprocesses, connector runs, figures.

Everything talks to 127.0.0.1 only. Every subprocess is started with a deadline and killed (by its own pid)
when the benchmark is done with it, so a run always stops by itself.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
CONNECTOR = [PYTHON, "-m", "source_zoho_desk"]
HOST = "127.0.0.1"
UNLIMITED_CREDITS = 10**12

# The top-level streams (no per-ticket children): what "tickets plus the other streams" means in bench 2.
CHILD_STREAMS = ("ticket_threads", "ticket_comments", "ticket_attachments", "ticket_time_entries")


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def write_json(name: str, value: Any) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / name
    path.write_text(json.dumps(value, indent=1))
    return path


def stop(process: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL after `timeout`: only the process we started, by its pid."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


# ---- the fake Zoho Desk ----------------------------------------------------------------------------
class FakeZohoProcess:
    """`python -m integration_tests.fake_zoho` in its own process (its own GIL), driven over /_fake/."""

    def __init__(self, tickets: int, latency_ms: int = 0, sizes: dict[str, int] | None = None,
                 name: str = "fake") -> None:
        args = [PYTHON, "-m", "integration_tests.fake_zoho", "--host", HOST, "--port", "0",
                "--tickets", str(tickets), "--latency-ms", str(latency_ms), "--no-token-rate-limit"]
        for stream, size in (sizes or {}).items():
            args += ["--size", f"{stream}={size}"]
        WORK.mkdir(parents=True, exist_ok=True)
        self.stderr = open(WORK / f"{name}.stderr.log", "wb")
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.stderr)
        self.tickets = tickets
        line = _readline_with_deadline(self.process, 60)
        urls = json.loads(line)
        self.base_url: str = urls["base_url"]
        self.api_url: str = urls["api_url"]
        self.accounts_url: str = urls["accounts_url"]
        self.ps = psutil.Process(self.process.pid)
        # Deep offsets cost up to 100 credits a call; a benchmark must never hit the daily limit.
        self.settings(credits_remaining=UNLIMITED_CREDITS)

    def settings(self, **values: Any) -> dict[str, Any]:
        response = requests.patch(f"{self.base_url}/_fake/settings", json=values, timeout=30)
        response.raise_for_status()
        return response.json()

    def current_settings(self) -> dict[str, Any]:
        return requests.get(f"{self.base_url}/_fake/settings", timeout=30).json()

    def calls(self) -> dict[str, int]:
        return requests.get(f"{self.base_url}/_fake/calls", timeout=30).json()

    def reset_calls(self) -> None:
        requests.delete(f"{self.base_url}/_fake/calls", timeout=30).raise_for_status()

    def ids(self, stream: str, limit: int) -> list[str]:
        return requests.get(f"{self.base_url}/_fake/records/{stream}/ids", params={"limit": limit},
                            timeout=30).json()["ids"]

    def update(self, stream: str, record_id: str, **fields: Any) -> dict[str, Any]:
        response = requests.patch(f"{self.base_url}/_fake/records/{stream}/{record_id}", json=fields, timeout=30)
        response.raise_for_status()
        return response.json()

    def cpu_seconds(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def config(self, **overrides: Any) -> dict[str, Any]:
        from integration_tests.fake_zoho import defaults

        config: dict[str, Any] = {
            "data_center": "US",
            "org_id": defaults.ORG_ID,
            "credentials": {"client_id": defaults.CLIENT_ID, "client_secret": defaults.CLIENT_SECRET,
                            "refresh_token": defaults.REFRESH_TOKEN},
            "api_url": self.api_url,
            "accounts_url": self.accounts_url,
            "page_size": 100,
        }
        config.update(overrides)
        return config

    def close(self) -> None:
        stop(self.process)
        if self.process.stdout:
            self.process.stdout.close()
        self.stderr.close()


@contextmanager
def fake_zoho(tickets: int, latency_ms: int = 0, sizes: dict[str, int] | None = None,
              name: str = "fake") -> Iterator[FakeZohoProcess]:
    fake = FakeZohoProcess(tickets, latency_ms, sizes, name)
    try:
        yield fake
    finally:
        fake.close()


def _readline_with_deadline(process: subprocess.Popen[bytes], timeout: float) -> str:
    assert process.stdout is not None
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(process.stdout.readline()), daemon=True)  # type: ignore
    reader.start()
    reader.join(timeout)
    if not box or not box[0]:
        process.kill()
        raise RuntimeError(f"{process.args[:4]} printed no ready line within {timeout}s")
    return box[0].decode()


# ---- the webhook collector -------------------------------------------------------------------------
class CollectorProcess:
    """`source-zoho-desk collector serve` on a free port with a fresh data dir; one data source created."""

    def __init__(self, name: str, org_id: str, log_level: str = "INFO") -> None:
        self.data_dir = WORK / name
        if self.data_dir.exists():
            for stale in self.data_dir.iterdir():
                stale.unlink()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.stderr = open(WORK / f"{name}.stderr.log", "wb")
        self.process = subprocess.Popen(
            [*CONNECTOR, "collector", "serve", "--host", HOST, "--port", str(self.port),
             "--data-dir", str(self.data_dir), "--public-base-url", self.base_url, "--log-level", log_level],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.stderr,
        )
        wait_http(f"{self.base_url}/health", self.process)
        created = subprocess.run(
            [*CONNECTOR, "collector", "create-source", "--org-id", org_id, "--name", "bench",
             "--data-dir", str(self.data_dir), "--public-base-url", self.base_url],
            capture_output=True, text=True, check=True, cwd=ROOT, timeout=60,
        )
        self.source: dict[str, Any] = json.loads(created.stdout)
        self.hook_path: str = self.source["service_path"]
        self.ps = psutil.Process(self.process.pid)

    def incremental(self, mode: str = "webhook") -> dict[str, Any]:
        return {"mode": mode, "collector_url": self.base_url,
                "collector_credential": self.source["drain_credential"],
                "data_source_id": self.source["data_source_id"]}

    def head(self, partition: str) -> int:
        response = requests.get(
            f"{self.base_url}/v1/sources/{self.source['data_source_id']}/partitions/{partition}/head",
            headers={"Authorization": f"Bearer {self.source['drain_credential']}"}, timeout=30)
        response.raise_for_status()
        return int(response.json()["head_seq"])

    def close(self) -> None:
        stop(self.process, timeout=40)
        self.stderr.close()


def wait_http(url: str, process: subprocess.Popen[Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[:4]} exited with {process.returncode}")
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{url} did not answer within {timeout}s")


# ---- connector runs --------------------------------------------------------------------------------
def discover(config: dict[str, Any]) -> list[dict[str, Any]]:
    path = write_json("discover_config.json", config)
    out = subprocess.run([*CONNECTOR, "discover", "--config", str(path)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            message = json.loads(line)
            if message.get("type") == "CATALOG":
                return list(message["catalog"]["streams"])
    raise RuntimeError(f"discover failed: {out.stderr[-2000:]} {out.stdout[-2000:]}")


def catalog(streams: list[dict[str, Any]], names: Sequence[str] | None, mode: str = "full_refresh") -> dict[str, Any]:
    configured = []
    for stream in streams:
        if names is not None and stream["name"] not in names:
            continue
        configured.append({
            "stream": stream,
            "sync_mode": mode,
            "destination_sync_mode": "append_dedup" if mode == "incremental" else "overwrite",
            "primary_key": stream.get("source_defined_primary_key") or [["id"]],
            "cursor_field": stream.get("default_cursor_field") or [],
        })
    return {"streams": configured}


@dataclass
class Run:
    """One subprocess that writes Airbyte messages (or JSON lines) to a pipe we count, like a destination."""

    wall_s: float
    lines: int
    records: int
    peak_rss_mb: float
    cpu_s: float
    returncode: int
    by_stream: Counter[str] = field(default_factory=Counter)
    logs: list[str] = field(default_factory=list)
    states: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    stderr_tail: str = ""

    @property
    def records_per_s(self) -> float:
        return self.records / self.wall_s if self.wall_s else 0.0

    def credits_logged(self) -> int | None:
        for message in reversed(self.logs):
            if "credits used by this sync:" in message:
                return int(message.split("credits used by this sync:")[1].split(";")[0].split(".")[0].strip())
        return None


RECORD_PREFIX = b'{"type":"RECORD"'


def run_counted(args: Sequence[str], name: str, timeout_s: float, parse_records: bool = False,
                plain_lines: bool = False) -> Run:
    """Run `args`, count the lines on its stdout (RECORD messages, or every line when plain_lines) and take
    the exact peak RSS of that process from wait4(). Non-record messages are parsed (logs, state, errors)."""
    WORK.mkdir(parents=True, exist_ok=True)
    stderr_path = WORK / f"{name}.stderr.log"
    with open(stderr_path, "wb") as stderr, open(WORK / f"{name}.messages.jsonl", "wb") as kept:
        started = time.perf_counter()
        process = subprocess.Popen(list(args), cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, bufsize=1 << 20)
        timer = threading.Timer(timeout_s, process.kill)
        timer.start()
        lines = records = 0
        by_stream: Counter[str] = Counter()
        logs: list[str] = []
        states: dict[str, Any] = {}
        errors: list[str] = []
        assert process.stdout is not None
        try:
            for line in process.stdout:
                lines += 1
                if plain_lines:
                    records += 1
                    continue
                if line.startswith(RECORD_PREFIX):
                    records += 1
                    if parse_records:
                        by_stream[json.loads(line)["record"]["stream"]] += 1
                    continue
                if not line.startswith(b"{"):
                    continue
                kept.write(line)  # every non-record message, for reading after the run
                message = json.loads(line)
                kind = message.get("type")
                if kind == "RECORD":  # key order other than expected: still a record
                    records += 1
                    by_stream[message["record"]["stream"]] += 1
                elif kind == "LOG":
                    logs.append(message["log"]["message"])
                elif kind == "STATE" and message["state"].get("type") == "STREAM":
                    states[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
                elif kind == "TRACE" and message["trace"].get("type") == "ERROR":
                    errors.append(message["trace"]["error"]["message"])
        finally:
            process.stdout.close()
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - started
            timer.cancel()
    tail = stderr_path.read_text(errors="replace")[-3000:]
    if process.returncode != 0 and not errors:
        errors.append(f"exit {process.returncode}: {tail[-500:]}")
    return Run(wall_s=wall, lines=lines, records=records, peak_rss_mb=usage.ru_maxrss / 1024,
               cpu_s=usage.ru_utime + usage.ru_stime, returncode=process.returncode, by_stream=by_stream,
               logs=logs, states=states, errors=errors, stderr_tail=tail)


def read(config: dict[str, Any], configured: dict[str, Any], name: str, timeout_s: float = 900,
         state: list[dict[str, Any]] | None = None, parse_records: bool = False,
         wrapper: Sequence[str] = ()) -> Run:
    """`source-zoho-desk read` through the real CLI, as a user (or Airbyte) runs it."""
    args = [*(wrapper or [PYTHON]), "-m", "source_zoho_desk", "read",
            "--config", str(write_json(f"{name}.config.json", config)),
            "--catalog", str(write_json(f"{name}.catalog.json", configured))]
    if state is not None:
        args += ["--state", str(write_json(f"{name}.state.json", state))]
    return run_counted(args, name, timeout_s, parse_records=parse_records)


# ---- reporting -------------------------------------------------------------------------------------
@dataclass
class Figure:
    """One row of the results table."""

    bench: str
    name: str
    value: str
    baseline: str
    ratio: float | None
    target: str
    passed: bool | None  # None: informational, no target
    detail: str = ""


def machine() -> dict[str, str]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    return {
        "cores": f"{os.cpu_count()} logical ({psutil.cpu_count(logical=False)} physical)",
        "cpu": model or platform.processor() or "unknown",
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "airbyte-cdk": version("airbyte-cdk"),
        "commit": _git_head(),
        # Several engineers share this work tree: say when the measured code is not exactly the commit.
        "uncommitted source changes": _dirty() or "none",
    }


def _git_head() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         check=False)
    return out.stdout.strip()


def _dirty() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "source_zoho_desk",
                          "integration_tests/fake_zoho"], capture_output=True, text=True, check=False)
    return ", ".join(line[3:] for line in out.stdout.splitlines())


def fmt(value: float, unit: str = "", digits: int = 0) -> str:
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip()
