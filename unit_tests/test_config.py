"""The config contract: data-centre hosts, overrides and an actionable error for every bad field."""

from __future__ import annotations

from importlib.resources import files

import pytest
import yaml
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_zoho_desk.config import DATA_CENTERS, ZohoDeskConfig


@pytest.mark.parametrize(
    ("dc", "api", "accounts"),
    [
        ("US", "https://desk.zoho.com/api/v1", "https://accounts.zoho.com"),
        ("EU", "https://desk.zoho.eu/api/v1", "https://accounts.zoho.eu"),
        ("IN", "https://desk.zoho.in/api/v1", "https://accounts.zoho.in"),
        ("AU", "https://desk.zoho.com.au/api/v1", "https://accounts.zoho.com.au"),
        ("JP", "https://desk.zoho.jp/api/v1", "https://accounts.zoho.jp"),
        ("CN", "https://desk.zoho.com.cn/api/v1", "https://accounts.zoho.com.cn"),
        ("CA", "https://desk.zohocloud.ca/api/v1", "https://accounts.zohocloud.ca"),
        ("SA", "https://desk.zoho.sa/api/v1", "https://accounts.zoho.sa"),
    ],
)
def test_each_data_centre_maps_to_its_desk_and_accounts_hosts(raw_config, dc, api, accounts):
    del raw_config["api_url"], raw_config["accounts_url"]
    raw_config["data_center"] = dc
    config = ZohoDeskConfig.from_mapping(raw_config)
    assert (config.api_url, config.accounts_url) == (api, accounts)
    assert config.token_url == f"{accounts}/oauth/v2/token"


def test_spec_enum_matches_the_data_centre_table():
    spec = yaml.safe_load(files("source_zoho_desk").joinpath("spec.yaml").read_text())
    assert spec["connectionSpecification"]["properties"]["data_center"]["enum"] == list(DATA_CENTERS)


def test_overrides_win_and_lose_their_trailing_slash(raw_config):
    raw_config["api_url"] = "http://127.0.0.1:8080/api/v1/"
    config = ZohoDeskConfig.from_mapping(raw_config)
    assert config.api_url == "http://127.0.0.1:8080/api/v1"
    assert config.accounts_url == "https://accounts.example.test"
    assert config.page_size == 3


def _error(raw) -> AirbyteTracedException:
    with pytest.raises(AirbyteTracedException) as caught:
        ZohoDeskConfig.from_mapping(raw)
    assert caught.value.failure_type == FailureType.config_error
    return caught.value


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda c: c.update(data_center="MARS"), "data_center"),
        (lambda c: c.update(org_id="acme"), "org_id"),
        (lambda c: c.pop("org_id"), "org_id"),
        (lambda c: c.pop("credentials"), "credentials"),
        (lambda c: c["credentials"].pop("client_id"), "credentials.client_id"),
        (lambda c: c["credentials"].update(client_secret="  "), "credentials.client_secret"),
        (lambda c: c["credentials"].pop("refresh_token"), "grant_code"),
        (lambda c: c.update(start_date="yesterday"), "start_date"),
        (lambda c: c.update(page_size=0), "page_size"),
        (lambda c: c.update(page_size=101), "page_size"),
        (lambda c: c.update(page_size="100"), "page_size"),
        (lambda c: c.update(api_url="desk.zoho.com"), "api_url"),
        (lambda c: c.update(accounts_url="ftp://x"), "accounts_url"),
    ],
)
def test_bad_fields_name_themselves(raw_config, mutate, field):
    mutate(raw_config)
    assert field in _error(raw_config).message


def test_grant_code_alone_is_enough(raw_config):
    raw_config["credentials"].pop("refresh_token")
    raw_config["credentials"]["grant_code"] = "1000.code"
    config = ZohoDeskConfig.from_mapping(raw_config)
    assert config.refresh_token is None and config.grant_code == "1000.code"


def test_start_date_is_utc(raw_config):
    raw_config["start_date"] = "2024-02-01T00:00:00Z"
    assert ZohoDeskConfig.from_mapping(raw_config).start_date.isoformat() == "2024-02-01T00:00:00+00:00"
