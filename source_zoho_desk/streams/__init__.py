"""Zoho Desk streams: one small declarative class per table over one shared base."""
