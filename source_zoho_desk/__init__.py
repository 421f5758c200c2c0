"""source-zoho-desk: an Airbyte source for Zoho Desk and its webhook collector."""

from source_zoho_desk.source import SourceZohoDesk

__all__ = ["SourceZohoDesk"]
