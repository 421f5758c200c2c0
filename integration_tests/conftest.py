"""End-to-end fixtures: a fake Zoho Desk per test, the connector's real entrypoint run in-process, and the
fake's own view of its data (what a full refresh must deliver, computed without the connector's code)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import backoff._sync
import orjson
import pytest
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import AirbyteLogFormatter
from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    DestinationSyncMode,
    Level,
    SyncMode,
    TraceType,
    Type,
)
from airbyte_cdk.sources.streams.http import rate_limiting

from integration_tests.fake_zoho.app import DeskApi
from integration_tests.fake_zoho.records import MODULES, STREAMS, Record
from integration_tests.fake_zoho.server import FakeZohoServer
from integration_tests.fake_zoho.state import FakeZoho

TOKEN_CALL = "POST /oauth/v2/token"
# Every stream the connector must offer (the snake_case names are a contract, see the README's Streams table).
ALL_STREAMS = (
    "tickets", "departments", "products", "contracts", "organization_fields", "contacts", "accounts", "agents",
    "teams", "tasks", "calls", "events", "articles", "layouts", "organization_modules", "ticket_threads",
    "ticket_comments", "ticket_attachments", "ticket_time_entries",
)
CHILD_STREAMS = ("ticket_threads", "ticket_comments", "ticket_attachments", "ticket_time_entries")
PER_MODULE_STREAMS = ("organization_fields", "layouts")


# ---- running the connector ------------------------------------------------------------------------------
@dataclass
class Run:
    """Everything one connector command produced: protocol messages, captured logs, stdout-only messages."""

    messages: list[AirbyteMessage] = field(default_factory=list)
    # The CDK prints some messages straight to stdout (CONNECTOR_CONFIG control messages, RUNNING
    # stream statuses during backoff) instead of yielding them; they are parsed from captured stdout.
    printed: list[AirbyteMessage] = field(default_factory=list)
    uncaught: BaseException | None = None

    def of_type(self, kind: Type) -> list[AirbyteMessage]:
        return [m for m in self.messages if m.type == kind]

    @property
    def records(self) -> list[AirbyteMessage]:
        return self.of_type(Type.RECORD)

    def records_of(self, stream: str) -> list[dict[str, Any]]:
        return [m.record.data for m in self.records if m.record.stream == stream]

    @property
    def states(self) -> list[AirbyteMessage]:
        return self.of_type(Type.STATE)

    @property
    def controls(self) -> list[AirbyteMessage]:
        return [m for m in self.messages + self.printed if m.type == Type.CONTROL]

    @property
    def errors(self) -> list[AirbyteMessage]:
        return [m for m in self.of_type(Type.TRACE) if m.trace.type == TraceType.ERROR]

    def error_text(self) -> str:
        return "\n".join(f"{m.trace.error.message} | {m.trace.error.internal_message}" for m in self.errors)

    @property
    def status(self) -> Any:
        found = self.of_type(Type.CONNECTION_STATUS)
        assert len(found) == 1, f"expected one CONNECTION_STATUS, got {len(found)}; errors: {self.error_text()}"
        return found[0].connectionStatus

    def logs(self, level: Level | None = None) -> list[str]:
        return [m.log.message for m in self.of_type(Type.LOG) if level is None or m.log.level == level]

    def stream_statuses(self, stream: str) -> list[str]:
        return [
            m.trace.stream_status.status.value
            for m in self.of_type(Type.TRACE)
            if m.trace.type == TraceType.STREAM_STATUS and m.trace.stream_status.stream_descriptor.name == stream
        ]


def _parse(line: str) -> AirbyteMessage | None:
    try:
        return AirbyteMessageSerializer.load(orjson.loads(line))
    except Exception:  # not a protocol message (a stray print): the platform would log it
        return None


@contextlib.contextmanager
def _captured_logs(into: list[AirbyteMessage]) -> Iterator[None]:
    """Log records become LOG messages, as the platform sees them on stdout (same formatter as the CDK)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.INFO)
    handler.setFormatter(AirbyteLogFormatter())
    root = logging.getLogger("")
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        for line in buffer.getvalue().splitlines():
            message = _parse(line)
            if message is not None:
                into.append(message)


def iter_entrypoint(args: list[str], run: Run) -> Iterator[AirbyteMessage]:
    """Run the real AirbyteEntrypoint and yield its messages one by one; the caller may stop early (a
    killed sync). Logs and printed messages are collected into `run` when the generator is closed."""
    # Imported here, not at module level: this conftest is loaded for every integration test (collector and
    # container ones too), which should not depend on the source importing cleanly.
    from source_zoho_desk.source import SourceZohoDesk

    entrypoint = AirbyteEntrypoint(SourceZohoDesk())
    stdout = io.StringIO()
    logs: list[AirbyteMessage] = []
    try:
        with _captured_logs(logs), contextlib.redirect_stdout(stdout):
            try:
                for line in entrypoint.run(AirbyteEntrypoint.parse_args(args)):
                    message = _parse(line)
                    assert message is not None, f"the entrypoint yielded a non-protocol line: {line[:200]}"
                    run.messages.append(message)
                    yield message
            except Exception as exc:  # what `launch` would turn into a non-zero exit and an error trace
                run.uncaught = exc
    finally:
        run.messages.extend(logs)
        for line in stdout.getvalue().splitlines():
            message = _parse(line)
            if message is not None and message.type != Type.LOG:
                run.printed.append(message)


class Connector:
    """The connector's commands through the entrypoint, with config/catalog/state written to files."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._n = 0

    def _file(self, name: str, content: Any) -> str:
        self._n += 1
        path = self.workdir / f"{self._n:03d}-{name}.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return str(path)

    def args(self, command: str, config: dict[str, Any] | None = None,
             catalog: ConfiguredAirbyteCatalog | None = None, state: list[dict[str, Any]] | None = None) -> list[str]:
        args = [command]
        if config is not None:
            args += ["--config", self._file("config", config)]
        if catalog is not None:
            args += ["--catalog", self._file("catalog", ConfiguredAirbyteCatalogSerializer.dump(catalog))]
        if state is not None:
            args += ["--state", self._file("state", state)]
        return args

    def run(self, args: list[str]) -> Run:
        run = Run()
        for _ in iter_entrypoint(args, run):
            pass
        return run

    def spec(self) -> Run:
        return self.run(["spec"])

    def check(self, config: dict[str, Any]) -> Run:
        return self.run(self.args("check", config))

    def discover(self, config: dict[str, Any]) -> Run:
        return self.run(self.args("discover", config))

    def catalog(self, config: dict[str, Any]) -> AirbyteCatalog:
        run = self.discover(config)
        catalogs = run.of_type(Type.CATALOG)
        assert len(catalogs) == 1, run.error_text()
        return catalogs[0].catalog

    def read(self, config: dict[str, Any], streams: tuple[str, ...] | list[str] = ALL_STREAMS,
             state: list[dict[str, Any]] | None = None, discover_with: dict[str, Any] | None = None) -> Run:
        """discover (in its own process, with `discover_with` or the same config), then read `streams`."""
        catalog = configured(self.catalog(discover_with or config), streams)
        return self.run(self.args("read", config, catalog, state))


def configured(catalog: AirbyteCatalog, streams: tuple[str, ...] | list[str]) -> ConfiguredAirbyteCatalog:
    """A full-refresh catalog of `streams` as the platform would configure it from `discover`."""
    by_name = {s.name: s for s in catalog.streams}
    missing = [s for s in streams if s not in by_name]
    assert not missing, f"discover does not offer {missing}"
    return ConfiguredAirbyteCatalogSerializer.load({"streams": [
        {
            "stream": {
                "name": name,
                "json_schema": by_name[name].json_schema,
                "supported_sync_modes": [m.value for m in by_name[name].supported_sync_modes],
            },
            "sync_mode": SyncMode.full_refresh.value,
            "destination_sync_mode": DestinationSyncMode.overwrite.value,
        }
        for name in streams
    ]})


@pytest.fixture
def connector(tmp_path: Path) -> Connector:
    return Connector(tmp_path)


# ---- the fake Zoho Desk ---------------------------------------------------------------------------------
@pytest.fixture
def serve() -> Iterator[Callable[..., FakeZohoServer]]:
    """serve(sizes=..., **settings) -> a running fake (stopped at teardown)."""
    started: list[FakeZohoServer] = []

    def start(sizes: dict[str, int] | None = None, **settings: Any) -> FakeZohoServer:
        fake = FakeZoho(sizes=sizes)
        if settings:
            fake.configure(**settings)
        server = FakeZohoServer(fake)
        # FakeZohoServer binds a socket with proto 0, so asyncio never sets TCP_NODELAY on accepted
        # connections: every response after the first on a kept-alive connection waits ~40 ms for a
        # delayed ACK (Nagle). Linux copies TCP_NODELAY from the listening socket to accepted ones.
        server.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started.append(server.start())
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def zoho(serve: Callable[..., FakeZohoServer]) -> FakeZohoServer:
    """A fake Zoho Desk with its default (small) data set."""
    return serve()


# ---- backoff without the wall-clock wait ------------------------------------------------------------------
@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the CDK's backoff waits instead of sleeping them.

    Only the two places that sleep between retries are patched (the backoff library's retry loop and
    the CDK's Retry-After handler); what the connector decides (retry or not, how long) is unchanged,
    and the recorded waits let tests assert it.
    """
    waits: list[float] = []
    fake_time = types.SimpleNamespace(sleep=lambda seconds: waits.append(float(seconds)))
    monkeypatch.setattr(backoff._sync, "time", fake_time)
    monkeypatch.setattr(rate_limiting, "time", fake_time)
    return waits


# ---- what the fake holds, from its own Python API ---------------------------------------------------------
def expected_records(fake: FakeZoho, stream: str) -> dict[tuple[str, ...], Record]:
    """Every record the fake serves for `stream`, as its list endpoint renders them, keyed like the
    stream's primary key. Built from the fake's data and its renderer, never from the connector."""
    from integration_tests.fake_zoho import metadata

    desk = DeskApi(fake)
    out: dict[tuple[str, ...], Record] = {}
    if stream in STREAMS and STREAMS[stream].parent is None:
        op = fake.facts.op(STREAMS[stream].list_op)
        for rec in fake.data.page(stream, 0, fake.data.total(stream)):
            out[(rec["id"],)] = desk.render(stream, op, rec)
    elif stream in CHILD_STREAMS:
        op = fake.facts.op(STREAMS[stream].list_op)
        for ticket in fake.data.page("tickets", 0, fake.data.total("tickets")):
            parent = fake.data.index_of("tickets", ticket["id"])
            for rec in fake.data.children(stream, parent):
                rendered = desk.render(stream, op, rec)
                rendered.setdefault("ticketId", ticket["id"])
                out[(rendered["id"],)] = rendered
    elif stream == "organization_fields":
        op = fake.facts.op("GET /fields")
        for module in MODULES:
            for rec in metadata.fields(fake.facts, fake.seed, module):
                rendered = desk.render(None, op, rec)
                if "allowedValues" in rec:
                    rendered["allowedValues"] = rec["allowedValues"]
                out[(module, rendered["id"])] = {**rendered, "module": module}
    elif stream == "layouts":
        op = fake.facts.op("GET /layouts")
        departments = fake.ids("departments", fake.sizes["departments"])
        for module in MODULES:
            for rec in metadata.layouts(fake.facts, fake.seed, module, fake.sizes["layouts"], departments):
                out[(module, rec["id"])] = {**desk.render(None, op, rec), "module": module}
    elif stream == "organization_modules":
        op = fake.facts.op("GET /organizationModules")
        for rec in metadata.modules(fake.facts, fake.seed):
            out[(rec["id"],)] = desk.render(None, op, rec)
    else:
        raise KeyError(stream)
    return out


def realistic_activity_times(fake: FakeZoho) -> None:
    """Give tasks/calls/events an `activityTime` like Zoho's (epoch milliseconds, OAS int64 `[0-9]+`)
    through the fake's mutation API; the fake's constant placeholder "0" is pinned separately by
    test_read_full_refresh.py::test_declared_date_time_fields_are_emitted_as_date_time."""
    for stream in ("tasks", "calls", "events"):
        for record in fake.data.page(stream, 0, fake.data.total(stream)):
            if record.get("activityTime") == "0":
                fake.update(stream, record["id"], activityTime=str(1_717_200_000_000 + 60_000 * len(record["id"])))


def record_key(stream: str, record: dict[str, Any]) -> tuple[str, ...]:
    return (record["module"], record["id"]) if stream in PER_MODULE_STREAMS else (record["id"],)
