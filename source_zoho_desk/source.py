"""SourceZohoDesk: the composition root that builds the shared auth and the streams from the config."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import replace
from typing import Any

import requests
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    FailureType,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_zoho_desk.auth import ZohoOAuthAuthenticator, resolve_refresh_token
from source_zoho_desk.check import check_desk_access
from source_zoho_desk.config import IncrementalSettings, ZohoDeskConfig
from source_zoho_desk.custom_fields import CustomFieldCatalog, fields_from_cf_schema
from source_zoho_desk.queue_client import CollectorError, QueueClient
from source_zoho_desk.streams.base import StreamContext
from source_zoho_desk.streams.children import TicketAttachments, TicketComments, TicketThreads, TicketTimeEntries
from source_zoho_desk.streams.tables import (
    Accounts,
    Agents,
    Articles,
    Calls,
    Contacts,
    Contracts,
    Departments,
    Events,
    Layouts,
    OrganizationFields,
    OrganizationModules,
    Products,
    Tasks,
    Teams,
    Tickets,
)

STREAM_CLASSES = (
    Tickets,
    Departments,
    Products,
    OrganizationFields,
    Contracts,
    Contacts,
    Accounts,
    Agents,
    Teams,
    Tasks,
    Calls,
    Events,
    Articles,
    Layouts,
    OrganizationModules,
    TicketThreads,
    TicketComments,
    TicketAttachments,
    TicketTimeEntries,
)


def seed_custom_fields(catalog_of_fields: CustomFieldCatalog, catalog: ConfiguredAirbyteCatalog) -> None:
    """A read coerces `cf` to the types discover announced (the destination expects exactly those), and does
    not spend list calls on organizationFields again; a catalog whose `cf` is untyped keeps it untyped."""
    for configured in catalog.streams:
        module = CustomFieldCatalog.module_for(configured.stream.name)
        if module is None:
            continue
        cf = (configured.stream.json_schema.get("properties") or {}).get("cf")
        catalog_of_fields.seed(module, fields_from_cf_schema(cf) or [])


def read_streams_concurrently(
    read: Callable[[ConfiguredAirbyteCatalog], Iterator[AirbyteMessage]],
    catalog: ConfiguredAirbyteCatalog,
    parallel: int,
) -> Iterator[AirbyteMessage]:
    """Read up to `parallel` streams at once, each through the CDK's own read of a one-stream catalog.

    Messages of one stream keep their order (a stream's STATE still follows its records); streams
    interleave, as the Airbyte protocol allows. The request gate still bounds the calls in flight.
    A stream that fails fails alone, as in the CDK's sequential read; the sync then fails at the end.
    """
    todo: queue.SimpleQueue[ConfiguredAirbyteStream] = queue.SimpleQueue()
    for configured in catalog.streams:
        todo.put(configured)
    out: queue.Queue[AirbyteMessage | object] = queue.Queue(maxsize=1000)  # back-pressure on the readers
    finished, stop = object(), threading.Event()
    failed: list[str] = []

    def put(item: AirbyteMessage | object) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def worker() -> None:
        try:
            while not stop.is_set():
                try:
                    configured = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    for message in read(ConfiguredAirbyteCatalog(streams=[configured])):
                        if not put(message):
                            return
                except AirbyteTracedException:
                    failed.append(configured.stream.name)  # its error trace was already emitted
                except Exception as exc:  # keep the other streams going, as the sequential read does
                    failed.append(configured.stream.name)
                    logger.exception(f"Reading stream {configured.stream.name} failed: {exc}")
        finally:
            put(finished)

    threads = [threading.Thread(target=worker, name=f"zoho-stream-{i}", daemon=True) for i in range(parallel)]
    for thread in threads:
        thread.start()
    try:
        running = len(threads)
        while running:
            item = out.get()
            if item is finished:
                running -= 1
            else:
                yield item  # type: ignore[misc]
    finally:
        stop.set()
    if failed:
        raise AirbyteTracedException(
            message=f"During the sync, the following streams did not sync successfully: {', '.join(sorted(failed))}",
            failure_type=FailureType.config_error,
        )


def queue_client(settings: IncrementalSettings) -> QueueClient | None:
    if not settings.uses_webhooks:
        return None
    assert settings.collector_url and settings.collector_credential and settings.data_source_id
    return QueueClient(settings.collector_url, settings.collector_credential, settings.data_source_id)


logger = logging.getLogger("airbyte")


class SourceZohoDesk(AbstractSource):
    """Zoho Desk as an Airbyte source. One authenticator and one credit meter per process."""

    def __init__(self) -> None:
        super().__init__()
        self._context: StreamContext | None = None

    def context(self, config: MutableMapping[str, Any]) -> StreamContext:
        if self._context is None:
            settings = ZohoDeskConfig.from_mapping(config)
            refresh_token = resolve_refresh_token(config, settings)
            base = StreamContext.build(
                settings, ZohoOAuthAuthenticator(settings, refresh_token), queue_client(settings.incremental)
            )
            # organizationFields is read through `base`, whose streams have no catalog: it cannot recurse.
            catalog = CustomFieldCatalog(lambda module: OrganizationFields(base).read_all({"module": module}))
            self._context = replace(base, custom_fields=catalog)
        return self._context

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, Any]:
        context = self.context(config)  # type: ignore[arg-type]
        try:
            check_desk_access(context)
        except requests.RequestException as exc:
            return False, (
                f"Could not reach the Zoho Desk API at {context.config.api_url} ({type(exc).__name__}). "
                "Check data_center (or api_url) and the network."
            )
        if context.queue is not None:
            try:
                context.queue.head("tickets")  # proves the collector URL, data source id and credential
            except CollectorError as exc:
                return False, f"Zoho Desk is reachable, but the webhook collector is not usable: {exc}"
        return True, None

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        context = self.context(config)  # type: ignore[arg-type]
        return [stream_class(context) for stream_class in STREAM_CLASSES]

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage]:
        context = self.context(config)  # type: ignore[arg-type]
        if context.custom_fields is not None:
            seed_custom_fields(context.custom_fields, catalog)
        parallel = min(len(catalog.streams), context.config.max_concurrency)
        try:
            if parallel <= 1:
                yield from super().read(logger, config, catalog, state)
            else:
                yield from read_streams_concurrently(
                    lambda one: AbstractSource.read(self, logger, config, one, state), catalog, parallel
                )
        finally:
            context.meter.log_summary(logger)

