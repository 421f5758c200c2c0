"""SourceZohoDesk: the composition root that builds the shared auth and the streams from the config."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import replace
from typing import Any

import requests
from airbyte_cdk.models import AirbyteMessage, AirbyteStateMessage, ConfiguredAirbyteCatalog
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream

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


def queue_client(settings: IncrementalSettings) -> QueueClient | None:
    if not settings.uses_webhooks:
        return None
    assert settings.collector_url and settings.collector_credential and settings.data_source_id
    return QueueClient(settings.collector_url, settings.collector_credential, settings.data_source_id)


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
        try:
            yield from super().read(logger, config, catalog, state)
        finally:
            if self._context is not None:
                self._context.meter.log_summary(logger)

