"""Zoho OAuth: header scheme, one shared refresh, token-error messages, grant-code exchange and its CONTROL message."""

from __future__ import annotations

import json

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_zoho_desk.auth import ZohoOAuthAuthenticator, exchange_grant_code, resolve_refresh_token
from source_zoho_desk.config import ZohoDeskConfig
from unit_tests.conftest import TOKEN_URL

TOKEN_OK = {"access_token": "1000.access", "api_domain": "https://www.zohoapis.com", "token_type": "Bearer",
            "expires_in": 3600}


def test_header_uses_zoho_scheme_and_refreshes_once(raw_config, requests_mock):
    requests_mock.post(TOKEN_URL, json=TOKEN_OK)
    auth = ZohoOAuthAuthenticator(ZohoDeskConfig.from_mapping(raw_config), "1000.refresh")
    assert auth.get_auth_header() == {"Authorization": "Zoho-oauthtoken 1000.access"}
    assert auth.get_auth_header() == {"Authorization": "Zoho-oauthtoken 1000.access"}
    assert requests_mock.call_count == 1
    sent = requests_mock.request_history[0].text
    assert "grant_type=refresh_token" in sent and "refresh_token=1000.refresh" in sent


def test_token_is_refreshed_before_it_expires(raw_config, requests_mock):
    requests_mock.post(TOKEN_URL, json={**TOKEN_OK, "expires_in": 200})  # inside the 5-minute margin
    auth = ZohoOAuthAuthenticator(ZohoDeskConfig.from_mapping(raw_config), "1000.refresh")
    auth.get_auth_header()
    auth.get_auth_header()
    assert requests_mock.call_count == 2


@pytest.mark.parametrize(
    ("error", "field", "failure"),
    [
        ("invalid_client", "data_center", FailureType.config_error),
        ("invalid_client_secret", "credentials.client_secret", FailureType.config_error),
        ("invalid_code", "credentials.refresh_token", FailureType.config_error),
        ("Access Denied", "10 access tokens per 10 minutes", FailureType.transient_error),
        ("something_new", "credentials.client_id", FailureType.config_error),
    ],
)
def test_token_errors_in_http_200_bodies_become_actionable(raw_config, requests_mock, error, field, failure):
    requests_mock.post(TOKEN_URL, json={"error": error})
    auth = ZohoOAuthAuthenticator(ZohoDeskConfig.from_mapping(raw_config), "1000.refresh")
    with pytest.raises(AirbyteTracedException) as caught:
        auth.get_auth_header()
    assert field in caught.value.message
    assert caught.value.failure_type == failure


def _grant_config(raw_config):
    raw_config["credentials"].pop("refresh_token")
    raw_config["credentials"]["grant_code"] = "1000.code"
    return raw_config


def test_grant_code_exchange_sends_authorization_code_grant(raw_config, requests_mock):
    requests_mock.post(TOKEN_URL, json={**TOKEN_OK, "refresh_token": "1000.new-refresh"})
    assert exchange_grant_code(ZohoDeskConfig.from_mapping(_grant_config(raw_config))) == "1000.new-refresh"
    sent = requests_mock.request_history[0].text
    assert "grant_type=authorization_code" in sent and "code=1000.code" in sent


def test_expired_or_used_grant_code_says_so(raw_config, requests_mock):
    requests_mock.post(TOKEN_URL, json={"error": "invalid_code"})
    with pytest.raises(AirbyteTracedException) as caught:
        exchange_grant_code(ZohoDeskConfig.from_mapping(_grant_config(raw_config)))
    assert "credentials.grant_code has expired or was already used" in caught.value.message
    assert "Generate Code" in caught.value.message


def test_resolving_a_grant_code_emits_the_updated_config(raw_config, requests_mock, capsys):
    requests_mock.post(TOKEN_URL, json={**TOKEN_OK, "refresh_token": "1000.new-refresh"})
    raw = _grant_config(raw_config)
    token = resolve_refresh_token(raw, ZohoDeskConfig.from_mapping(raw))
    assert token == "1000.new-refresh"
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    control = [m for m in messages if m["type"] == "CONTROL"]
    assert len(control) == 1
    emitted = control[0]["control"]["connectorConfig"]["config"]
    assert emitted["credentials"]["refresh_token"] == "1000.new-refresh"
    assert "grant_code" not in emitted["credentials"]
    assert raw["credentials"]["refresh_token"] == "1000.new-refresh"


def test_a_configured_refresh_token_is_used_without_any_call(raw_config, requests_mock):
    assert resolve_refresh_token(raw_config, ZohoDeskConfig.from_mapping(raw_config)) == "1000.refresh"
    assert requests_mock.call_count == 0


def test_the_access_token_of_a_grant_code_exchange_is_used_not_refreshed_again(raw_config, requests_mock):
    requests_mock.post(TOKEN_URL, json={**TOKEN_OK, "access_token": "1000.from-exchange",
                                        "refresh_token": "1000.new-refresh"})
    raw = _grant_config(raw_config)
    config = ZohoDeskConfig.from_mapping(raw)
    auth = ZohoOAuthAuthenticator(config, resolve_refresh_token(raw, config))
    assert auth.get_auth_header() == {"Authorization": "Zoho-oauthtoken 1000.from-exchange"}
    assert requests_mock.call_count == 1, "one token call: the exchange; no refresh"
