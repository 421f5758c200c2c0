"""Typed view of the connector config: data-centre hosts, credentials and paging, validated with field-named errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


@dataclass(frozen=True)
class DataCenter:
    """One Zoho data centre: where its Desk API and its accounts (OAuth) server live."""

    code: str
    desk_host: str
    accounts_host: str

    @property
    def api_url(self) -> str:
        return f"https://{self.desk_host}/api/v1"

    @property
    def accounts_url(self) -> str:
        return f"https://{self.accounts_host}"

    @property
    def api_console_url(self) -> str:
        # The API Console lives beside the accounts server of the same data centre.
        return f"https://api-console.{self.accounts_host.removeprefix('accounts.')}"


DATA_CENTERS: dict[str, DataCenter] = {
    dc.code: dc
    for dc in (
        DataCenter("US", "desk.zoho.com", "accounts.zoho.com"),
        DataCenter("EU", "desk.zoho.eu", "accounts.zoho.eu"),
        DataCenter("IN", "desk.zoho.in", "accounts.zoho.in"),
        DataCenter("AU", "desk.zoho.com.au", "accounts.zoho.com.au"),
        DataCenter("JP", "desk.zoho.jp", "accounts.zoho.jp"),
        DataCenter("CN", "desk.zoho.com.cn", "accounts.zoho.com.cn"),
        # Canada is served from zohocloud.ca, not zoho.ca (see the notes, §1).
        DataCenter("CA", "desk.zohocloud.ca", "accounts.zohocloud.ca"),
        DataCenter("SA", "desk.zoho.sa", "accounts.zoho.sa"),
    )
}

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 100
# Zoho allows 5 concurrent calls on Free, 10 Express/Standard, 15 Professional, 25 Enterprise.
DEFAULT_CONCURRENCY = 5
MAX_CONCURRENCY = 25


def config_error(message: str) -> AirbyteTracedException:
    """An error the user fixes by editing the config; the message names the field."""
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)


INCREMENTAL_MODES = ("polling", "webhook", "webhook_and_polling")
DEFAULT_LOOKBACK_MINUTES = 10


@dataclass(frozen=True)
class IncrementalSettings:
    """How incremental streams learn about changes: the collector's queue, Zoho's search API, or both."""

    mode: str = "polling"
    collector_url: str | None = None
    collector_credential: str | None = None
    data_source_id: str | None = None
    polling_lookback_minutes: int = DEFAULT_LOOKBACK_MINUTES

    @property
    def uses_webhooks(self) -> bool:
        return self.mode in ("webhook", "webhook_and_polling")

    @property
    def uses_polling(self) -> bool:
        return self.mode in ("polling", "webhook_and_polling")

    @classmethod
    def from_mapping(cls, value: Any) -> IncrementalSettings:
        if value in (None, {}):
            return cls()
        if not isinstance(value, Mapping):
            raise config_error("incremental must be an object, e.g. {\"mode\": \"polling\"}.")
        mode = str(value.get("mode") or "polling")
        if mode not in INCREMENTAL_MODES:
            raise config_error(f"incremental.mode '{mode}' is not one of {', '.join(INCREMENTAL_MODES)}.")
        lookback = value.get("polling_lookback_minutes", DEFAULT_LOOKBACK_MINUTES)
        if isinstance(lookback, bool) or not isinstance(lookback, int) or not 0 <= lookback <= 1440:
            raise config_error(
                f"incremental.polling_lookback_minutes must be a whole number of minutes, 0–1440 (got {lookback!r})."
            )
        settings = cls(
            mode=mode,
            collector_url=_optional_text(value, "collector_url", "incremental."),
            collector_credential=_optional_text(value, "collector_credential", "incremental."),
            data_source_id=_optional_text(value, "data_source_id", "incremental."),
            polling_lookback_minutes=lookback,
        )
        if settings.uses_webhooks:
            for key in ("collector_url", "collector_credential", "data_source_id"):
                if not getattr(settings, key):
                    raise config_error(
                        f"incremental.{key} is required when incremental.mode is '{mode}': run "
                        "`source-zoho-desk collector create-source --org-id <org_id>` on the collector and copy "
                        "the collector URL, data source id and drain credential it prints (or set mode to polling)."
                    )
            _url({"collector_url": settings.collector_url}, "collector_url", "", prefix="incremental.")
        return settings


@dataclass(frozen=True)
class ZohoDeskConfig:
    """The validated config every part of the source reads from."""

    data_center: DataCenter
    org_id: str
    client_id: str
    client_secret: str
    refresh_token: str | None
    grant_code: str | None
    api_url: str
    accounts_url: str
    start_date: datetime | None
    page_size: int
    incremental: IncrementalSettings = IncrementalSettings()
    max_concurrency: int = DEFAULT_CONCURRENCY
    credit_budget: int | None = None

    @property
    def token_url(self) -> str:
        return f"{self.accounts_url}/oauth/v2/token"

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> ZohoDeskConfig:
        dc_code = str(config.get("data_center") or "US").upper()
        if dc_code not in DATA_CENTERS:
            raise config_error(
                f"data_center '{config.get('data_center')}' is not a Zoho Desk data centre; "
                f"use one of {', '.join(DATA_CENTERS)} (the domain you log in to Zoho Desk on: "
                "desk.zoho.com → US, desk.zoho.eu → EU, …)."
            )
        dc = DATA_CENTERS[dc_code]
        org_id = str(config.get("org_id") or "").strip()
        if not org_id.isdigit():
            raise config_error(
                f"org_id must be your Zoho Desk organisation id, digits only (got '{org_id}'). "
                "Find it in Zoho Desk under Setup → Developer Space → API → Zoho Service Communication "
                "(ZSC) Key, or as 'orgId' in the response of GET /api/v1/organizations."
            )
        credentials = config.get("credentials")
        if not isinstance(credentials, Mapping):
            raise config_error("credentials is missing: set credentials.client_id, client_secret and refresh_token.")
        client_id = _required_text(credentials, "client_id")
        client_secret = _required_text(credentials, "client_secret")
        refresh_token = _optional_text(credentials, "refresh_token")
        grant_code = _optional_text(credentials, "grant_code")
        if not refresh_token and not grant_code:
            raise config_error(
                "credentials needs either refresh_token or grant_code. Generate a grant code in the Zoho API "
                f"Console ({dc.api_console_url}) → Self Client → Generate Code and paste it into "
                "credentials.grant_code; the connector exchanges it for a refresh token on its first run."
            )
        return cls(
            data_center=dc,
            org_id=org_id,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            grant_code=grant_code,
            api_url=_url(config, "api_url", dc.api_url),
            accounts_url=_url(config, "accounts_url", dc.accounts_url),
            start_date=_start_date(config.get("start_date")),
            page_size=_page_size(config.get("page_size", DEFAULT_PAGE_SIZE)),
            incremental=IncrementalSettings.from_mapping(config.get("incremental")),
            max_concurrency=_whole(config.get("max_concurrency", DEFAULT_CONCURRENCY), "max_concurrency", 1,
                                   MAX_CONCURRENCY, "Zoho allows 5 (Free) to 25 (Enterprise) concurrent calls"),
            credit_budget=None if config.get("credit_budget") in (None, "") else _whole(
                config.get("credit_budget"), "credit_budget", 1, 10_000_000, "the API credits one sync may spend"),
        )


def _required_text(credentials: Mapping[str, Any], key: str) -> str:
    value = _optional_text(credentials, key)
    if not value:
        raise config_error(
            f"credentials.{key} is empty: copy it from the Zoho API Console → Self Client → Client Secret tab."
        )
    return value


def _optional_text(section: Mapping[str, Any], key: str, prefix: str = "credentials.") -> str | None:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise config_error(f"{prefix}{key} must be a string.")
    return value.strip() or None


def _url(config: Mapping[str, Any], key: str, default: str, prefix: str = "") -> str:
    value = config.get(key)
    if not value:
        return default
    parsed = urlparse(str(value))
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        hint = "" if prefix else "; leave it empty to use the data centre's default"
        raise config_error(f"{prefix}{key} '{value}' is not an http(s) URL{hint}.")
    return str(value).rstrip("/")


def _start_date(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise config_error(
            f"start_date '{value}' is not an ISO-8601 UTC timestamp; use e.g. 2024-01-31T00:00:00Z."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _whole(value: Any, key: str, low: int, high: int, meaning: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise config_error(f"{key} must be a whole number from {low} to {high} ({meaning}); got {value!r}.")
    return value


def _page_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise config_error(f"page_size must be a whole number from 1 to {MAX_PAGE_SIZE} (got {value!r}).")
    return value
