"""A fake Zoho Desk (accounts server + Desk API v1) built from Zoho's OAS facts, for tests, demo and benchmarks."""

from integration_tests.fake_zoho.app import create_app
from integration_tests.fake_zoho.server import FakeZohoServer, running_fake_zoho
from integration_tests.fake_zoho.state import FakeZoho

__all__ = ["FakeZoho", "FakeZohoServer", "create_app", "running_fake_zoho"]
