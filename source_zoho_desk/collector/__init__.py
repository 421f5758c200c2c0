"""Webhook collector sidecar: receives Zoho Desk webhooks, queues them durably, serves them to the source."""
