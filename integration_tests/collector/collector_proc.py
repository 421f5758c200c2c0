"""Runs the collector as a real uvicorn subprocess (`python -m source_zoho_desk.collector serve`) for tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(data_dir: Path, *args: str, base_url: str | None = None) -> dict:
    """Run a management sub-command the way an operator would, and parse its JSON."""
    cmd = [sys.executable, "-m", "source_zoho_desk.collector", *args, "--data-dir", str(data_dir)]
    if base_url:
        cmd += ["--public-base-url", base_url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


class CollectorProcess:
    def __init__(self, data_dir: Path, port: int | None = None, extra: tuple[str, ...] = (), scheme: str = "http"):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.extra = extra
        self.scheme = scheme
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"collector-{self.port}.log"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> CollectorProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "source_zoho_desk.collector", "serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir),
            "--public-base-url", self.url, "--graceful-shutdown", "10", *self.extra,
        ]
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited with {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                if requests.get(self.url + "/health", timeout=1, verify=False).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"collector did not come up: {self.log()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def create_source(self, org_id: str, name: str = "") -> dict:
        return cli(self.data_dir, "create-source", "--org-id", org_id, "--name", name, base_url=self.url)
