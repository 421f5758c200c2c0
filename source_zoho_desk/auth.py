"""Zoho OAuth: the Zoho-oauthtoken header, shared token refresh, grant-code exchange and token-error messages."""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import requests
from airbyte_cdk.config_observation import emit_configuration_as_airbyte_control_message
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.requests_native_auth import Oauth2Authenticator
from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets
from airbyte_cdk.utils.datetime_helpers import ab_datetime_now
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_zoho_desk.config import ZohoDeskConfig, config_error

logger = logging.getLogger("airbyte")

# Refresh a little before Zoho's 3600 s expiry so no request goes out with a token about to lapse.
EXPIRY_MARGIN = timedelta(minutes=5)
TOKEN_TIMEOUT_SECONDS = 30


def token_error(error: str, config: ZohoDeskConfig, *, exchanging_code: bool) -> AirbyteTracedException:
    """Turn Zoho's HTTP-200 `{"error": ...}` token answers into errors that name the field to fix."""
    dc = config.data_center
    console = dc.api_console_url
    if error == "invalid_client":
        return config_error(
            f"Zoho's accounts server {config.accounts_url} does not know credentials.client_id. A client exists "
            f"in one data centre only: check that data_center ({dc.code}) is the one where the client was "
            f"registered in the API Console ({console}), and that client_id is copied exactly."
        )
    if error == "invalid_client_secret":
        return config_error(
            "credentials.client_secret does not match credentials.client_id: copy it again from the API Console "
            f"({console}) → Self Client → Client Secret."
        )
    if error == "invalid_code" and exchanging_code:
        return config_error(
            "credentials.grant_code has expired or was already used: a Self Client code works once and only for "
            f"the minutes chosen when it was generated (3 by default). Generate a new one in the API Console "
            f"({console}) → Self Client → Generate Code with the scopes listed in the README, paste it into "
            "credentials.grant_code and run again within its validity. If this code was exchanged before, use "
            "the refresh token that run emitted (or printed with `source-zoho-desk exchange-code`)."
        )
    if error == "invalid_code":
        return config_error(
            "credentials.refresh_token was rejected by Zoho: it was revoked, belongs to another client or data "
            "centre, or was deleted because its user created more than 20 refresh tokens. Generate a new grant "
            f"code in the API Console ({console}) → Self Client → Generate Code, put it in credentials.grant_code "
            "and clear credentials.refresh_token."
        )
    if error.lower() in ("access denied", "access_denied"):
        return AirbyteTracedException(
            message=(
                "Zoho refused to issue an access token: a refresh token may mint only 10 access tokens per "
                "10 minutes. Wait up to 10 minutes and retry; avoid running many syncs with the same refresh token."
            ),
            internal_message=f"token endpoint answered error={error}",
            failure_type=FailureType.transient_error,
        )
    return config_error(
        f"Zoho's accounts server answered error '{error}' for these credentials; check credentials.client_id, "
        "client_secret and refresh_token/grant_code, and data_center."
    )


class ZohoOAuthAuthenticator(Oauth2Authenticator):
    """The CDK's refresh-token authenticator with Zoho's header scheme and Zoho's error bodies.

    One instance is shared by every stream of a sync: a refresh token may mint only 10 access
    tokens per 10 minutes, so the token must be refreshed once per process, not once per stream.
    """

    # Access tokens a grant-code exchange returned, by refresh token: using one saves a refresh, and a
    # refresh token may mint only 10 access tokens per 10 minutes.
    _issued: ClassVar[dict[str, tuple[str, datetime]]] = {}

    def __init__(self, config: ZohoDeskConfig, refresh_token: str) -> None:
        self._zoho_config = config
        super().__init__(
            token_refresh_endpoint=config.token_url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            refresh_token=refresh_token,
        )
        issued = self._issued.pop(refresh_token, None)
        if issued is not None:
            self.access_token, expiry = issued
            self.set_token_expiry_date(expiry)

    @classmethod
    def remember_issued(cls, refresh_token: str, access_token: str, expires_in: int) -> None:
        cls._issued[refresh_token] = (access_token, ab_datetime_now() + timedelta(seconds=expires_in))

    def get_auth_header(self) -> Mapping[str, Any]:
        return {"Authorization": f"Zoho-oauthtoken {self.get_access_token()}"}

    def token_has_expired(self) -> bool:
        return ab_datetime_now() > self.get_token_expiry_date() - EXPIRY_MARGIN

    def _ensure_access_token_in_response(self, response_data: Mapping[str, Any]) -> None:
        error = response_data.get("error")
        if error:
            raise token_error(str(error), self._zoho_config, exchanging_code=False)
        super()._ensure_access_token_in_response(response_data)


def exchange_grant_code(config: ZohoDeskConfig) -> str:
    """Trade a Self Client grant code for a long-lived refresh token (grant_type=authorization_code)."""
    if not config.grant_code:
        raise config_error("credentials.grant_code is empty: there is no code to exchange.")
    try:
        response = requests.post(
            config.token_url,
            data={
                "grant_type": "authorization_code",
                "client_id": config.client_id,
                "client_secret": config.client_secret,
                "code": config.grant_code,
            },
            timeout=TOKEN_TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        raise AirbyteTracedException(
            message=f"Could not reach Zoho's accounts server {config.accounts_url}: {type(exc).__name__}. "
            "Check data_center (or accounts_url) and the network.",
            failure_type=FailureType.transient_error,
        ) from exc
    body = _json_object(response)
    if body.get("error"):
        raise token_error(str(body["error"]), config, exchanging_code=True)
    refresh_token = body.get("refresh_token")
    if not response.ok or not refresh_token:
        raise AirbyteTracedException(
            message=f"Zoho's accounts server answered HTTP {response.status_code} without a refresh token "
            "to the grant-code exchange; generate a new grant code and retry.",
            failure_type=FailureType.config_error,
        )
    add_to_secrets(refresh_token)
    if body.get("access_token"):
        add_to_secrets(body["access_token"])
        expires_in = body.get("expires_in")
        ZohoOAuthAuthenticator.remember_issued(
            str(refresh_token), str(body["access_token"]), int(expires_in) if isinstance(expires_in, int) else 3600
        )
    return str(refresh_token)


def _json_object(response: requests.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def resolve_refresh_token(raw_config: MutableMapping[str, Any], config: ZohoDeskConfig) -> str:
    """The refresh token to use; when only a grant code is configured, exchange it and hand the new
    config to the platform as a CONNECTOR_CONFIG control message so it is persisted for later syncs."""
    if config.refresh_token:
        return config.refresh_token
    refresh_token = exchange_grant_code(config)
    credentials = dict(raw_config["credentials"])
    credentials["refresh_token"] = refresh_token
    # The code is spent; keeping it would only produce a confusing invalid_code error later.
    credentials.pop("grant_code", None)
    raw_config["credentials"] = credentials
    emit_configuration_as_airbyte_control_message(raw_config)
    logger.info("Exchanged credentials.grant_code for a refresh token; the updated config was emitted.")
    return refresh_token
