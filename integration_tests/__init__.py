"""Integration tests for source-zoho-desk, and the fake Zoho Desk server they run against."""
