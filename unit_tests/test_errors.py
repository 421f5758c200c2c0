"""Zoho's errorCodes and statuses map to the right CDK action, failure type and message."""

from __future__ import annotations

import logging

import pytest
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ResponseAction

from source_zoho_desk.errors import ZohoBackoffStrategy, ZohoErrorHandler


def _response(status: int, body: dict | None = None, headers: dict | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = b"" if body is None else requests.compat.json.dumps(body).encode()
    response.headers.update(headers or {})
    response.request = requests.Request("GET", "https://desk.example.test/api/v1/tickets").prepare()
    return response


@pytest.fixture
def handler():
    return ZohoErrorHandler(logging.getLogger("test"), "tickets", "Desk.tickets.READ")


@pytest.mark.parametrize(
    ("status", "code", "action", "failure"),
    [
        (200, None, ResponseAction.SUCCESS, None),
        (204, None, ResponseAction.SUCCESS, None),
        (401, "INVALID_OAUTH", ResponseAction.REFRESH_TOKEN_THEN_RETRY, FailureType.config_error),
        (401, "UNAUTHORIZED", ResponseAction.FAIL, FailureType.config_error),
        (403, "OAUTH_ORG_MISMATCH", ResponseAction.FAIL, FailureType.config_error),
        (403, "SCOPE_MISMATCH", ResponseAction.IGNORE, None),
        (403, "FORBIDDEN", ResponseAction.IGNORE, None),
        (403, "LICENSE_ACCESS_LIMITED", ResponseAction.IGNORE, None),
        (404, "URL_NOT_FOUND", ResponseAction.FAIL, FailureType.config_error),
        (422, "UNPROCESSABLE_ENTITY", ResponseAction.FAIL, FailureType.system_error),
        (429, "TOO_MANY_REQUESTS", ResponseAction.RETRY, FailureType.transient_error),
        (500, "INTERNAL_SERVER_ERROR", ResponseAction.RETRY, FailureType.transient_error),
        (503, None, ResponseAction.RETRY, FailureType.transient_error),
    ],
)
def test_resolution_table(handler, status, code, action, failure):
    body = {"errorCode": code, "message": "m"} if code else None
    resolution = handler.interpret_response(_response(status, body))
    assert resolution.response_action == action
    assert resolution.failure_type == failure


def test_org_mismatch_names_org_id(handler):
    resolution = handler.interpret_response(_response(403, {"errorCode": "OAUTH_ORG_MISMATCH", "message": "x"}))
    assert "org_id" in resolution.error_message


def test_skipped_stream_warning_names_scope_or_feature(handler, caplog):
    handler.interpret_response(_response(403, {"errorCode": "SCOPE_MISMATCH", "message": "x"}))
    handler.interpret_response(
        _response(403, {"errorCode": "LICENSE_ACCESS_LIMITED", "message": "x", "feature": "CONTRACTS",
                        "editionType": "STANDARD"})
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Desk.tickets.READ" in w and "Skipping stream tickets" in w for w in warnings)
    assert any("CONTRACTS" in w and "STANDARD" in w for w in warnings)


def test_short_daily_limit_wait_is_retried_after_retry_after(handler):
    response = _response(429, {"errorCode": "THRESHOLD_EXCEEDED", "message": "x"}, {"Retry-After": "30"})
    assert handler.interpret_response(response).response_action == ResponseAction.RETRY
    assert ZohoBackoffStrategy().backoff_time(response, 1) == 30.0


def test_long_daily_limit_wait_fails_transient_with_reset_time(handler):
    response = _response(429, {"errorCode": "THRESHOLD_EXCEEDED", "message": "x"}, {"Retry-After": "7200"})
    resolution = handler.interpret_response(response)
    assert resolution.response_action == ResponseAction.FAIL
    assert resolution.failure_type == FailureType.transient_error
    assert "daily API credits" in resolution.error_message and "2.0 h" in resolution.error_message


def test_concurrency_429_has_no_retry_after_so_cdk_backs_off_exponentially():
    assert ZohoBackoffStrategy().backoff_time(_response(429, {"errorCode": "TOO_MANY_REQUESTS"}), 1) is None


def test_missing_child_parent_is_ignored():
    child = ZohoErrorHandler(logging.getLogger("test"), "ticket_threads", "Desk.tickets.READ", ignore_not_found=True)
    assert child.interpret_response(_response(404, {"errorCode": "URL_NOT_FOUND"})).response_action == (
        ResponseAction.IGNORE
    )


def test_connection_errors_are_retried_as_transient(handler):
    resolution = handler.interpret_response(requests.ConnectionError("reset"))
    assert resolution.response_action == ResponseAction.RETRY
