"""Helpers for the collector's unit tests: make a data source, build a Zoho-shaped event."""

from __future__ import annotations

from dataclasses import dataclass

from source_zoho_desk.collector.settings import Settings
from source_zoho_desk.collector.sources import SQLiteSourceRegistry

ORG = "60001234567"


@dataclass
class Src:
    id: str
    org_id: str
    token: str
    credential: str

    @property
    def hook(self) -> str:
        return f"/hooks/{self.token}"

    def drain_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"}


def make_source(settings: Settings, org_id: str = ORG) -> Src:
    registry = SQLiteSourceRegistry(settings.sources_path)
    try:
        issued = registry.create(org_id, "test")
    finally:
        registry.close()
    return Src(issued.source.id, org_id, issued.url_token, issued.drain_credential)


def event(event_type: str = "Ticket_Update", entity: str = "1", org: str = ORG, **extra) -> dict:
    body = {"eventType": event_type, "eventTime": "1700000000000", "orgId": org, "payload": {"id": entity}}
    body.update(extra)
    return body
