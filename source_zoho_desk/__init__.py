"""source-zoho-desk: an Airbyte source for Zoho Desk and its webhook collector."""

from source_zoho_desk.startup import skip_protocol_attribute_docs

skip_protocol_attribute_docs()  # before the next import pulls in airbyte-cdk: see startup.py

from source_zoho_desk.source import SourceZohoDesk  # noqa: E402

__all__ = ["SourceZohoDesk"]
