"""One small declarative class per Zoho Desk table: name, path, page maximum and the OAuth scope it needs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from source_zoho_desk.streams.base import ZohoDeskStream

# Modules with their own fields and layouts (names as Zoho's `module` parameter spells them).
FIELD_MODULES = ("tickets", "contacts", "accounts", "tasks", "calls", "events", "products", "contracts", "timeEntry")


class Tickets(ZohoDeskStream):
    name = "tickets"
    path_template = "tickets"
    scope = "Desk.tickets.READ"


class Departments(ZohoDeskStream):
    name = "departments"
    path_template = "departments"
    page_limit = 200
    scope = "Desk.basic.READ"


class Products(ZohoDeskStream):
    name = "products"
    path_template = "products"
    scope = "Desk.products.READ"


class Contracts(ZohoDeskStream):
    name = "contracts"
    path_template = "contracts"
    scope = "Desk.contracts.READ"


class Contacts(ZohoDeskStream):
    name = "contacts"
    path_template = "contacts"
    page_limit = 99
    scope = "Desk.contacts.READ"


class Accounts(ZohoDeskStream):
    name = "accounts"
    path_template = "accounts"
    page_limit = 99
    scope = "Desk.contacts.READ"


class Agents(ZohoDeskStream):
    name = "agents"
    path_template = "agents"
    page_limit = 200
    scope = "Desk.basic.READ"


class Teams(ZohoDeskStream):
    name = "teams"
    path_template = "teams"
    list_key = "teams"
    page_limit = None
    scope = "Desk.basic.READ"


class Tasks(ZohoDeskStream):
    name = "tasks"
    path_template = "tasks"
    page_limit = 99
    scope = "Desk.activities.tasks.READ"


class Calls(ZohoDeskStream):
    name = "calls"
    path_template = "calls"
    page_limit = 99
    scope = "Desk.activities.calls.READ"


class Events(ZohoDeskStream):
    name = "events"
    path_template = "events"
    page_limit = 99
    scope = "Desk.activities.events.READ"


class Articles(ZohoDeskStream):
    name = "articles"
    path_template = "articles"
    page_limit = 50
    scope = "Desk.articles.READ"


class OrganizationModules(ZohoDeskStream):
    name = "organization_modules"
    path_template = "organizationModules"
    list_key = "modules"
    page_limit = None
    scope = "Desk.basic.READ"


class PerModuleStream(ZohoDeskStream):
    """A metadata table listed once per module (`?module=M`), with the module on each record."""

    primary_key = ["module", "id"]

    def stream_slices(self, **_: Any) -> Iterable[Mapping[str, Any]]:
        return [{"module": module} for module in FIELD_MODULES]

    def slice_params(self, stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"module": stream_slice["module"]}

    def transform(self, record: MutableMapping[str, Any], stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        record["module"] = stream_slice["module"]
        return super().transform(record, stream_slice)


class OrganizationFields(PerModuleStream):
    name = "organization_fields"
    path_template = "organizationFields"
    page_limit = None
    scope = "Desk.basic.READ"


class Layouts(PerModuleStream):
    name = "layouts"
    path_template = "layouts"
    page_limit = 99
    scope = "Desk.basic.READ"


def parent_ids(parent: ZohoDeskStream) -> Iterable[str]:
    """Ids of every record of a parent stream, read page by page (never held in memory)."""
    for record in parent.read_all():
        yield str(record["id"])
