"""Zoho Desk errorCode / HTTP status → the CDK's ErrorResolution, in one table, with actionable messages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.default_error_mapping import DEFAULT_ERROR_MAPPING
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction

# Waiting out a daily-credit reset is pointless; a short Retry-After (the window is nearly over) is worth it.
MAX_RETRY_AFTER_WAIT_SECONDS = 300
MAX_RETRIES = 6

# errorCodes that mean "this org/token may not read this stream": skip the stream, keep the sync going.
NOT_PERMITTED = {"SCOPE_MISMATCH", "FORBIDDEN", "LICENSE_ACCESS_LIMITED", "ONLY_LIVECHAT_USER"}


def zoho_error(response: requests.Response) -> tuple[str, str, Mapping[str, Any]]:
    """(errorCode, message, whole body) of a Zoho error response; empty strings when it has none."""
    try:
        body = response.json()
    except ValueError:
        return "", "", {}
    if not isinstance(body, Mapping):
        return "", "", {}
    return str(body.get("errorCode") or ""), str(body.get("message") or ""), body


def retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _fail(message: str, failure_type: FailureType) -> ErrorResolution:
    return ErrorResolution(response_action=ResponseAction.FAIL, failure_type=failure_type, error_message=message)


class ZohoErrorHandler(ErrorHandler):
    """Interprets Zoho Desk responses for one stream; `scope` names the OAuth scope the stream needs."""

    def __init__(
        self,
        logger: logging.Logger,
        stream_name: str,
        scope: str,
        ignore_not_found: bool = False,
        skip_forbidden: bool = True,
        on_too_many_requests: Callable[[], None] | None = None,
    ) -> None:
        self._logger = logger
        self._on_too_many_requests = on_too_many_requests
        self._skip_forbidden = skip_forbidden
        self._stream_name = stream_name
        self._scope = scope
        self._ignore_not_found = ignore_not_found

    @property
    def max_retries(self) -> int:
        return MAX_RETRIES

    @property
    def max_time(self) -> int:
        return 600

    def interpret_response(self, response_or_exception: requests.Response | Exception | None = None) -> ErrorResolution:
        if not isinstance(response_or_exception, requests.Response):
            # Dropped connections, timeouts: the CDK's table already retries them as transient.
            mapped = DEFAULT_ERROR_MAPPING.get(type(response_or_exception)) if response_or_exception else None
            return mapped or ErrorResolution(
                response_action=ResponseAction.RETRY,
                failure_type=FailureType.transient_error,
                error_message=f"Request to Zoho Desk failed: {response_or_exception!r}",
            )
        response = response_or_exception
        if response.ok:
            return ErrorResolution(response_action=ResponseAction.SUCCESS)
        code, message, body = zoho_error(response)
        return self._resolve(response, code, message, body)

    def _resolve(
        self, response: requests.Response, code: str, message: str, body: Mapping[str, Any]
    ) -> ErrorResolution:
        status = response.status_code
        stream = self._stream_name
        if status == 401 and code in ("INVALID_OAUTH", ""):
            # Expired or revoked access token: the CDK refreshes once and retries, then gives up.
            return ErrorResolution(
                response_action=ResponseAction.REFRESH_TOKEN_THEN_RETRY,
                failure_type=FailureType.config_error,
                error_message="Zoho rejected the OAuth access token (INVALID_OAUTH).",
            )
        if status == 401:
            return _fail(f"Zoho answered {code} for stream {stream}: {message}", FailureType.config_error)
        if code == "OAUTH_ORG_MISMATCH":
            return _fail(
                "org_id does not match the organisation the OAuth token was issued for (OAUTH_ORG_MISMATCH). Use "
                "the org id of the Zoho Desk portal you picked when generating the grant code (GET "
                "/api/v1/organizations lists them), or generate a new code for this org.",
                FailureType.config_error,
            )
        if code in NOT_PERMITTED or (status == 403 and not code):
            if not self._skip_forbidden:
                return _fail(self._not_permitted_message(code, message, body), FailureType.config_error)
            self._logger.warning(self._not_permitted_message(code, message, body))
            return ErrorResolution(response_action=ResponseAction.IGNORE)
        if status == 404 and self._ignore_not_found:
            # A parent row (e.g. a ticket) vanished between listing it and reading its children.
            return ErrorResolution(response_action=ResponseAction.IGNORE)
        if status == 404:
            return _fail(
                f"Zoho Desk answered 404 {code or 'URL_NOT_FOUND'} for stream {stream} ({response.request.url}). "
                "Check data_center and api_url: they must point at the Desk API of your organisation "
                "(e.g. https://desk.zoho.eu/api/v1).",
                FailureType.config_error,
            )
        if status == 429 and code == "THRESHOLD_EXCEEDED":
            return self._daily_limit(response)
        if status == 429 and self._on_too_many_requests is not None:
            self._on_too_many_requests()
        if status == 429 or status >= 500:
            return ErrorResolution(
                response_action=ResponseAction.RETRY,
                failure_type=FailureType.transient_error,
                error_message=f"Zoho Desk answered {status} {code or ''} for stream {stream}; retrying with backoff.",
            )
        if status in (400, 413, 415, 422):
            return _fail(
                f"Zoho Desk rejected the request for stream {stream} with {status} {code}: {message} "
                "This is a connector bug or an API change; please report it with this message.",
                FailureType.system_error,
            )
        return _fail(f"Zoho Desk answered {status} {code}: {message}", FailureType.system_error)

    def _not_permitted_message(self, code: str, message: str, body: Mapping[str, Any]) -> str:
        stream = self._stream_name
        if not self._skip_forbidden:
            return (
                f"Stream {stream} cannot poll Zoho's search API ({code or 'HTTP 403'}: {message}): the token needs "
                f"{self._scope}. Generate a grant code with that scope, or set incremental.mode to webhook."
            )
        if code == "LICENSE_ACCESS_LIMITED":
            feature = body.get("feature") or "this feature"
            edition = body.get("editionType") or "your"
            return (
                f"Skipping stream {stream}: the {edition} edition of Zoho Desk does not include {feature} "
                f"(LICENSE_ACCESS_LIMITED). {message}"
            )
        if code == "SCOPE_MISMATCH":
            return (
                f"Skipping stream {stream}: the OAuth token lacks scope {self._scope} (SCOPE_MISMATCH). Generate "
                "a new grant code that includes it to sync this stream."
            )
        return (
            f"Skipping stream {stream}: the Zoho user behind the token may not read it ({code or 'HTTP 403'}: "
            f"{message}). Its profile needs permission for this module and scope {self._scope}."
        )

    def _daily_limit(self, response: requests.Response) -> ErrorResolution:
        wait = retry_after_seconds(response)
        if wait is not None and wait <= MAX_RETRY_AFTER_WAIT_SECONDS:
            return ErrorResolution(
                response_action=ResponseAction.RETRY,
                failure_type=FailureType.transient_error,
                error_message=f"Zoho Desk API credits are exhausted for {wait:.0f} s more; waiting.",
            )
        when = ""
        if wait is not None:
            reset = datetime.now(UTC) + timedelta(seconds=wait)
            when = f" They reset in about {wait / 3600:.1f} h, at {reset:%Y-%m-%d %H:%M} UTC."
        return _fail(
            "Zoho Desk's daily API credits for this organisation are used up (429 THRESHOLD_EXCEEDED)." + when
            + " Rerun the sync after the reset, buy extra credits, or sync fewer streams.",
            FailureType.transient_error,
        )


class ZohoBackoffStrategy(BackoffStrategy):
    """Honour Retry-After when Zoho sends it; otherwise let the CDK back off exponentially."""

    def backoff_time(
        self, response_or_exception: requests.Response | requests.RequestException | None, attempt_count: int
    ) -> float | None:
        if isinstance(response_or_exception, requests.Response):
            return retry_after_seconds(response_or_exception)
        return None
