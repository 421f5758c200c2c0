"""Profile the connector's full-refresh read (bench 1's workload) with pyinstrument; print where the time goes.

    bash bench/run.sh --profile [--quick] [--drain]     (or: python -m bench.profile_read …)

The connector runs through its real CLI under `python -m pyinstrument`, stdout to a counted pipe, the fake
Zoho Desk in its own process. max_concurrency is 1 so every request and record is handled on the main
thread (pyinstrument samples the thread that started it). Writes bench/.work/profile.txt (the call tree)
and prints the self time aggregated by function and by package.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import PYTHON, WORK, CollectorProcess, catalog, discover, fake_zoho, log, read


def _walk(frame: Any, out: dict[str, float], by_package: dict[str, float], owner: str = "<root>") -> None:
    # Self time = own time minus the real children's (synthetic "[self]" children are part of it).
    real = [child for child in frame.children if not child.is_synthetic]
    self_time = frame.time - sum(child.time for child in real)
    path = frame.file_path or ""
    # Built-ins (socket.recv_into, dict.get, …) are charged to the package that called them.
    package = owner if path.startswith("<") and "frozen" not in path else _package(path)
    if self_time > 0:
        name = f"{frame.function} ({_short(frame.file_path or '')}:{frame.line_no})"
        out[name] += self_time
        by_package[package] += self_time
    for child in real:
        _walk(child, out, by_package, package)


# Stages of a read: (label, function, file suffix). Cumulative time of the outermost matching frames.
STAGES = (
    ("HTTP: request + wait + receive (CDK _fetch_next_page: requests, urllib3, socket)", "_fetch_next_page",
     "airbyte_cdk/sources/streams/http/http.py"),
    ("JSON parse of Zoho pages (Response.json)", "json", "requests/models.py"),
    ("webhook drain: fetch + parse queue pages (QueueClient.drain)", "drain", "source_zoho_desk/queue_client.py"),
    ("record normalisation (RecordShape.normalise)", "normalise", "source_zoho_desk/records.py"),
    ("Airbyte record message build (_get_message, per-record get_json_schema)", "_get_message",
     "airbyte_cdk/sources/abstract_source.py"),
    ("record counting + memory check (entrypoint.read loop)", "handle_record_counts", "airbyte_cdk/entrypoint.py"),
    ("message serialisation (orjson via airbyte_message_to_string)", "airbyte_message_to_string",
     "airbyte_cdk/entrypoint.py"),
    ("print to stdout (launch)", "write", ""),
)


COLLECTOR_STAGES = (
    ("service URL endpoint (plain ASGI) + everything inside it", "__call__",
     "source_zoho_desk/collector/service_url.py"),
    ("  token lookup (in-memory registry)", "_source", "source_zoho_desk/collector/service_url.py"),
    ("  body read", "read_limited", "source_zoho_desk/collector/service_url.py"),
    ("  parse_body (json.loads)", "parse_body", "source_zoho_desk/collector/events.py"),
    ("  normalise_batch (canonical JSON + sha256)", "normalise_batch", "source_zoho_desk/collector/events.py"),
    ("  queue.append (group commit: statements inline, COMMIT in the io thread)", "append",
     "source_zoho_desk/collector/queue.py"),
    ("  answer (orjson + two ASGI sends)", "_send", "source_zoho_desk/collector/service_url.py"),
    ("queue flusher: staging a group's statements", "_stage", "source_zoho_desk/collector/queue.py"),
    ("prometheus metrics", "inc", "prometheus_client/metrics.py"),
    ("uvicorn h11 protocol (parse, send)", "data_received", "uvicorn/protocols/http/h11_impl.py"),
    ("event loop idle (selector wait)", "select", "selectors.py"),
)


def _cumulative(frame: Any, function: str, suffix: str) -> float:
    if frame.function == function and (frame.file_path or "").endswith(suffix) and not frame.is_synthetic:
        return float(frame.time)
    return sum(_cumulative(child, function, suffix) for child in frame.children)


def _short(path: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _package(path: str) -> str:
    short = _short(path)
    if "site-packages/" in path:
        return short.split("/", 1)[0]
    if "/work/main/" in path:
        return short.split("/", 1)[0]
    if "lib/python3.11/" in path:
        return "stdlib:" + short.split("/", 1)[0].removesuffix(".py")
    return short or "<native>"


def summarise(session_path: Path, top: int = 25, stages: tuple[tuple[str, str, str], ...] = STAGES) -> str:
    from pyinstrument.session import Session

    session = Session.load(str(session_path))
    root = session.root_frame()
    total = session.duration
    by_function: dict[str, float] = defaultdict(float)
    by_package: dict[str, float] = defaultdict(float)
    if root is not None:
        _walk(root, by_function, by_package)
    sampled = sum(by_package.values()) or 1.0
    lines = [f"wall {total:.2f}s, CPU {session.cpu_time:.2f}s (sampled {sampled:.2f}s on the main thread; wall time "
             "includes waiting for a CPU on a loaded machine)", "",
             "self time by package (built-ins charged to their caller):"]
    for name, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:15]:
        lines.append(f"  {seconds / sampled:6.1%}  {seconds:6.2f}s  {name}")
    if root is not None and stages is not STAGES:
        lines += ["", "stages (cumulative):"]
        for label, function, suffix in stages:
            seconds = _cumulative(root, function, suffix)
            lines.append(f"  {seconds / root.time:6.1%}  {seconds:6.2f}s  {label}")
    elif root is not None:
        # A generator's frames are split by the line it resumed at: sum the outermost ones.
        reading = _cumulative(root, "read", "airbyte_cdk/entrypoint.py")
        lines += ["", "stages (cumulative):"]
        lines.append(f"  {1 - reading / root.time:6.1%}  {root.time - reading:6.2f}s  outside the read loop "
                     "(imports, config, catalog, schemas, exit)")
        for label, function, suffix in STAGES:
            seconds = _cumulative(root, function, suffix)
            lines.append(f"  {seconds / root.time:6.1%}  {seconds:6.2f}s  {label}")
    lines += ["", f"self time by function (top {top}):"]
    for name, seconds in sorted(by_function.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {seconds / sampled:6.1%}  {seconds:6.2f}s  {name}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bash bench/run.sh --profile", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tickets", type=int, default=None)
    parser.add_argument("--drain", action="store_true", help="profile a webhook drain instead (bench 4)")
    parser.add_argument("--collector", action="store_true",
                        help="profile the collector's event loop under flat-out ingest instead (bench 4)")
    args = parser.parse_args(argv)
    n = args.tickets or (10_000 if args.quick else 50_000)
    session = WORK / ("drain.pyisession" if args.drain else "read.pyisession")
    wrapper = [PYTHON, "-m", "pyinstrument", "-r", "session", "-o", str(session)]
    if args.collector:
        return _profile_collector(10 if args.quick else 20)
    with fake_zoho(n, name="fake-profile") as fake:
        if args.drain:
            run = _profile_drain(fake, n, wrapper)
        else:
            log(f"profiling a full refresh of {n:,} tickets (max_concurrency 1) under pyinstrument")
            run = read(fake.config(max_concurrency=1), catalog(discover(fake.config()), ["tickets"]),
                       "profile-read", wrapper=wrapper)
    if run.returncode != 0:
        print(run.errors, run.stderr_tail, file=sys.stderr)
        return 1
    log(f"{run.records:,} records in {run.wall_s:.2f}s ({run.records_per_s:,.0f} rec/s under the profiler)")
    from pyinstrument.renderers import ConsoleRenderer
    from pyinstrument.session import Session

    tree = ConsoleRenderer(unicode=True, color=False, short_mode=False).render(Session.load(str(session)))
    text_path = session.with_suffix(".txt")
    text_path.write_text(tree)
    print(summarise(session))
    print(f"\ncall tree: {text_path}")
    return 0


def _profile_collector(seconds: float) -> int:
    """`collector serve` under pyinstrument (main thread = the event loop), 16 clients posting flat out."""
    import asyncio
    import subprocess

    from bench import http_load
    from bench.benches import EventFactory
    from bench.common import CONNECTOR, HOST, ROOT, free_port, stop, wait_http
    from integration_tests.fake_zoho import defaults

    session = WORK / "collector.pyisession"
    data_dir = WORK / "collector-profile"
    data_dir.mkdir(parents=True, exist_ok=True)
    for stale in data_dir.iterdir():
        stale.unlink()
    port = free_port()
    base = f"http://{HOST}:{port}"
    created = subprocess.run([*CONNECTOR, "collector", "create-source", "--org-id", defaults.ORG_ID, "--data-dir",
                              str(data_dir), "--public-base-url", base], capture_output=True, text=True, check=True)
    hook = json.loads(created.stdout)["service_path"]
    process = subprocess.Popen([PYTHON, "-m", "pyinstrument", "-r", "session", "-o", str(session), "-m",
                                "source_zoho_desk", "collector", "serve", "--host", HOST, "--port", str(port),
                                "--data-dir", str(data_dir), "--public-base-url", base], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"{base}/health", process)
        with fake_zoho(100, name="fake-profile") as fake:
            factory = EventFactory(fake, defaults.ORG_ID)
        log(f"profiling the collector under {seconds:.0f}s of flat-out ingest (16 clients, 1 event per POST)")
        result = asyncio.run(http_load.flat_out(HOST, port, hook, factory.single(0), 16, seconds))
        log(f"{result.events_per_s:,.0f} events/s under the profiler, p99 {result.percentile(99):.1f} ms")
    finally:
        # SIGINT: uvicorn shuts down cleanly, re-raises it as KeyboardInterrupt, and pyinstrument writes the
        # session (after a SIGTERM uvicorn re-raises SIGTERM and the process dies before pyinstrument writes).
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stop(process)
    print(summarise(session, stages=COLLECTOR_STAGES))
    return 0


def _profile_drain(fake: Any, n: int, wrapper: list[str]) -> Any:
    import asyncio

    from bench import http_load
    from bench.benches import EventFactory
    from bench.common import HOST
    from integration_tests.fake_zoho import defaults

    col = CollectorProcess("collector-profile", defaults.ORG_ID, log_level="WARNING")
    try:
        factory = EventFactory(fake, defaults.ORG_ID)
        body = factory.batch(0, 500)

        async def fill() -> None:
            conn = http_load.HttpConnection(HOST, col.port)
            try:
                for i in range((n + 499) // 500):
                    await conn.post(col.hook_path, body(i)[0])
            finally:
                await conn.close()

        asyncio.run(fill())
        config = fake.config(incremental=col.incremental("webhook"))
        state = [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "tickets"},
                                               "stream_state": {"seq": 0}}}]
        log(f"profiling a webhook drain of {col.head('tickets'):,} events under pyinstrument")
        return read(config, catalog(discover(config), ["tickets"], "incremental"), "profile-drain",
                    state=state, wrapper=wrapper)
    finally:
        col.close()


if __name__ == "__main__":
    sys.exit(main())
