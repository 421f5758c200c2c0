"""One small declarative class per Zoho Desk table: name, path, page maximum, scope and its change signals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from source_zoho_desk.streams.base import ZohoDeskStream
from source_zoho_desk.streams.incremental import UPDATED_AT, IncrementalZohoStream

# Modules with their own fields and layouts (names as Zoho's `module` parameter spells them).
FIELD_MODULES = ("tickets", "contacts", "accounts", "tasks", "calls", "events", "products", "contracts", "timeEntry")


class Tickets(IncrementalZohoStream):
    name = "tickets"
    path_template = "tickets"
    scope = "Desk.tickets.READ"
    webhook_partition = "tickets"
    search_path = "tickets/search"


class Departments(IncrementalZohoStream):
    name = "departments"
    path_template = "departments"
    page_limit = 200
    scope = "Desk.basic.READ"
    webhook_partition = "departments"
    cursor_name = UPDATED_AT


class Products(IncrementalZohoStream):
    name = "products"
    path_template = "products"
    scope = "Desk.products.READ"
    search_path = "products/search"


class Contracts(ZohoDeskStream):
    name = "contracts"
    path_template = "contracts"
    scope = "Desk.contracts.READ"


class Contacts(IncrementalZohoStream):
    name = "contacts"
    path_template = "contacts"
    page_limit = 99
    scope = "Desk.contacts.READ"
    webhook_partition = "contacts"
    search_path = "contacts/search"


class Accounts(IncrementalZohoStream):
    name = "accounts"
    path_template = "accounts"
    page_limit = 99
    first_offset = 1
    scope = "Desk.contacts.READ"
    webhook_partition = "accounts"
    search_path = "accounts/search"


class Agents(IncrementalZohoStream):
    name = "agents"
    path_template = "agents"
    page_limit = 200
    page_minimum = 10
    scope = "Desk.basic.READ"
    webhook_partition = "agents"
    cursor_name = UPDATED_AT


class Teams(ZohoDeskStream):
    name = "teams"
    path_template = "teams"
    list_key = "teams"
    page_limit = None
    scope = "Desk.basic.READ"


class DepartmentScopedStream(IncrementalZohoStream):
    """Activities are listed one department at a time: Zoho may insist on `departmentId` (the notes say so,
    the OAS does not), and asking per department is correct either way."""

    has_multiple_slices_in_full_refresh = True

    def full_refresh_slices(self, **_: Any) -> Iterable[Mapping[str, Any]]:
        for department_id in parent_ids(Departments(self.context)):
            yield {"departmentId": department_id}

    def slice_params(self, stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"departmentId": stream_slice["departmentId"]} if "departmentId" in stream_slice else {}


class Tasks(DepartmentScopedStream):
    name = "tasks"
    path_template = "tasks"
    page_limit = 99
    scope = "Desk.activities.tasks.READ"
    webhook_partition = "tasks"
    search_path = "tasks/search"


class Calls(DepartmentScopedStream):
    name = "calls"
    path_template = "calls"
    page_limit = 99
    scope = "Desk.activities.calls.READ"
    webhook_partition = "calls"
    search_path = "calls/search"


class Events(DepartmentScopedStream):
    name = "events"
    path_template = "events"
    page_limit = 99
    scope = "Desk.activities.events.READ"
    webhook_partition = "events"
    search_path = "events/search"


class Articles(IncrementalZohoStream):
    name = "articles"
    path_template = "articles"
    page_limit = 50
    first_offset = 1
    scope = "Desk.articles.READ"
    webhook_partition = "articles"
    search_path = "articles/search"


class OrganizationModules(ZohoDeskStream):
    name = "organization_modules"
    path_template = "organizationModules"
    page_limit = None
    scope = "Desk.basic.READ"


class PerModuleStream(ZohoDeskStream):
    """A metadata table listed once per module (`?module=M`), with the module on each record."""

    primary_key = ["module", "id"]

    def stream_slices(self, **_: Any) -> Iterable[Mapping[str, Any]]:
        return [{"module": module} for module in FIELD_MODULES]

    def slice_params(self, stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"module": stream_slice["module"]}

    def transform(
        self, record: MutableMapping[str, Any], stream_slice: Mapping[str, Any]
    ) -> MutableMapping[str, Any]:
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
