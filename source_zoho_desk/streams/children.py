"""Per-ticket child tables: threads, comments, attachments and time entries, one partition per ticket."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from source_zoho_desk.streams.base import ZohoDeskStream
from source_zoho_desk.streams.tables import Tickets, parent_ids


class TicketChildStream(ZohoDeskStream):
    """Lists `/tickets/{ticketId}/<child>` for every ticket and stamps each record with its ticketId."""

    scope = "Desk.tickets.READ"
    # A ticket deleted between listing it and reading its children is not an error.
    ignore_not_found = True

    @property
    def is_resumable(self) -> bool:
        # The CDK's per-partition checkpoint would grow the state by one entry per ticket; a child
        # stream restarts from the first ticket instead.
        return False

    def stream_slices(self, **_: Any) -> Iterable[Mapping[str, Any]]:
        for ticket_id in parent_ids(Tickets(self.context)):
            yield {"ticketId": ticket_id}

    def transform(self, record: MutableMapping[str, Any], stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        record.setdefault("ticketId", stream_slice["ticketId"])
        return super().transform(record, stream_slice)


class TicketThreads(TicketChildStream):
    name = "ticket_threads"
    path_template = "tickets/{ticketId}/threads"
    page_limit = 200


class TicketComments(TicketChildStream):
    name = "ticket_comments"
    path_template = "tickets/{ticketId}/comments"


class TicketAttachments(TicketChildStream):
    name = "ticket_attachments"
    path_template = "tickets/{ticketId}/attachments"


class TicketTimeEntries(TicketChildStream):
    name = "ticket_time_entries"
    path_template = "tickets/{ticketId}/timeEntry"
