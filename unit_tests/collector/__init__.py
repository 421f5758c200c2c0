"""Unit tests of the webhook collector and of the QueueClient seam."""
