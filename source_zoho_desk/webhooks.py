"""Zoho Desk webhook registration: subscriptions for the streams, and create/update/remove via /api/v1/webhooks."""

from __future__ import annotations

import contextlib
import io
import ipaddress
import re
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import requests
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_zoho_desk.auth import ZohoOAuthAuthenticator, resolve_refresh_token
from source_zoho_desk.collector.events import PARTITIONS
from source_zoho_desk.config import ZohoDeskConfig
from source_zoho_desk.errors import zoho_error
from source_zoho_desk.source import STREAM_CLASSES

DEFAULT_NAME = "airbyte-source-zoho-desk"
# Written at the start of the description so `status` finds webhooks registered under another --name.
MARKER = "Registered by source-zoho-desk"
REQUEST_TIMEOUT_SECONDS = 60
EDITION_LIMITS = "Professional 5, Enterprise 10"
WEBHOOK_SCOPES = "Desk.webhooks.ALL (or Desk.settings.ALL / Desk.events.ALL)"
WEBHOOKS_UI = "Zoho Desk → Setup → Developer Space → Webhooks"

# Exit codes shared with webhook_cli: 1 = Zoho, the network or the credentials refused; 2 = the invocation or
# the config is wrong and nothing was sent to Zoho.
FAILED = 1
USAGE = 2

# The event table is the collector's routing table (collector/events.py): an event is subscribed for a stream
# exactly when the collector files it under that stream's partition, so registration and routing cannot drift.
STREAM_NAMES: tuple[str, ...] = tuple(cls.name for cls in STREAM_CLASSES)
STREAM_EVENTS: dict[str, tuple[str, ...]] = {
    stream: events
    for stream in STREAM_NAMES
    if (events := tuple(event for event, partition in PARTITIONS.items() if partition == stream))
}

# Update events whose subscription accepts {"includePrevState": true} (OAS Webhook.json; unit_tests check this
# set against oas_facts.json). The others (Ticket_Comment_Update, Ticket_Attachment_Update, …) reject the key.
PREV_STATE_EVENTS: frozenset[str] = frozenset({
    "Ticket_Update", "Ticket_Approval_Update", "Contact_Update", "Account_Update", "Agent_Update",
    "Department_Update", "Task_Update", "Call_Update", "Event_Update", "TimeEntry_Update", "Article_Update",
    "Article_Translation_Update", "KBRootCategory_Update", "KBSection_Update",
})


class WebhookError(Exception):
    """A failure the user fixes; `message` is one line naming the fix, `exit_code` is FAILED or USAGE."""

    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.message = " ".join(message.split())
        self.exit_code = exit_code


def parse_streams(text: str | None) -> tuple[str, ...]:
    """`--streams tickets,contacts` → the stream names, in table order; None/empty → every stream with events."""
    if not text or not text.strip():
        return tuple(STREAM_EVENTS)
    wanted = [s.strip() for s in text.split(",") if s.strip()]
    for stream in wanted:
        if stream in STREAM_EVENTS:
            continue
        if stream in STREAM_NAMES:
            raise WebhookError(
                f"Stream {stream} has no Zoho Desk webhook events (it is kept current by polling only); "
                f"--streams accepts {', '.join(STREAM_EVENTS)}.",
                USAGE,
            )
        raise WebhookError(f"Unknown stream '{stream}'; --streams accepts {', '.join(STREAM_EVENTS)}.", USAGE)
    return tuple(s for s in STREAM_EVENTS if s in wanted)


def subscriptions_for(streams: Iterable[str]) -> dict[str, dict[str, bool] | None]:
    """The `subscriptions` object for the streams: prevState on update events that support it, else null.

    null is accepted by every event (OAS: events "without filters" take only null); filters such as
    departmentIds are left out on purpose so the queue sees the whole organisation, like the sync does.
    """
    subscriptions: dict[str, dict[str, bool] | None] = {}
    for stream in streams:
        for event in STREAM_EVENTS[stream]:
            subscriptions[event] = {"includePrevState": True} if event in PREV_STATE_EVENTS else None
    return subscriptions


def redact_url(url: str) -> str:
    """The service URL without its secret token (the last path segment), safe to print and log."""
    parsed = urlparse(url)
    head, _, token = parsed.path.rstrip("/").rpartition("/")
    shown = f"{token[:4]}…" if len(token) > 8 else token
    return f"{parsed.scheme}://{parsed.netloc}{head}/{shown}"


def reachability_hint(url: str) -> str:
    """Why Zoho's servers probably cannot reach `url`, when that is visible from the URL itself."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    hints = []
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if host == "localhost" or (address is not None and (address.is_private or address.is_loopback)):
        hints.append(f"{host} is a private or loopback address")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if port not in (80, 443):
        hints.append(f"port {port} is not 80/443")
    return f" ({'; '.join(hints)})" if hints else ""


def _webhook_events_text(subscriptions: Mapping[str, Any]) -> str:
    return ", ".join(f"{e}+prevState" if isinstance(v, Mapping) and v.get("includePrevState") else e
                     for e, v in subscriptions.items())


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def describe_subscriptions(subscriptions: Mapping[str, Any]) -> list[str]:
    """One line per stream: `tickets: Ticket_Add, Ticket_Update+prevState, Ticket_Delete`."""
    lines = []
    for stream, events in STREAM_EVENTS.items():
        mine = {e: subscriptions[e] for e in events if e in subscriptions}
        if mine:
            lines.append(f"{stream}: {_webhook_events_text(mine)}")
    others = {e: v for e, v in subscriptions.items() if not any(e in ev for ev in STREAM_EVENTS.values())}
    if others:
        lines.append(f"other: {_webhook_events_text(others)}")
    return lines


@dataclass
class Registration:
    """What `register` did: the webhook as Zoho returned it, whether it was new, and other matching webhooks."""

    webhook: dict[str, Any]
    created: bool
    others: list[dict[str, Any]] = field(default_factory=list)


class DeskWebhooks:
    """The /api/v1/webhooks endpoints for one org, authenticated like the source (one shared token)."""

    def __init__(self, config: ZohoDeskConfig, authenticator: requests.auth.AuthBase,
                 session: requests.Session | None = None) -> None:
        self.config = config
        self.session = session or requests.Session()
        self.session.auth = authenticator
        self.session.headers["orgId"] = config.org_id

    @classmethod
    def from_raw_config(cls, raw: MutableMapping[str, Any]) -> DeskWebhooks:
        """Validate the connector config and build the client; a grant code is exchanged (see `raw`)."""
        try:
            config = ZohoDeskConfig.from_mapping(raw)
        except AirbyteTracedException as exc:
            raise WebhookError(exc.message or str(exc), USAGE) from None
        try:
            # resolve_refresh_token announces the new config as an Airbyte control message on stdout; outside
            # Airbyte that line is noise carrying a secret, so it is swallowed and the caller persists `raw`.
            with contextlib.redirect_stdout(io.StringIO()):
                refresh_token = resolve_refresh_token(raw, config)
        except AirbyteTracedException as exc:
            raise WebhookError(exc.message or str(exc)) from None
        return cls(config, ZohoOAuthAuthenticator(config, refresh_token))

    # ---- the REST calls ---------------------------------------------------------------------------
    def _request(self, method: str, path: str, action: str, body: Mapping[str, Any] | None = None,
                 validating_url: str | None = None, known: list[dict[str, Any]] | None = None) -> requests.Response:
        url = f"{self.config.api_url}/webhooks{path}"
        try:
            response = self.session.request(method, url, json=body, timeout=REQUEST_TIMEOUT_SECONDS)
        except AirbyteTracedException as exc:
            # Token errors raised while minting the access token: auth.py already words them with the fix.
            raise WebhookError(exc.message or str(exc)) from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise WebhookError(
                f"Zoho's accounts server {self.config.accounts_url} answered HTTP {status} to the token refresh; "
                "check data_center (or accounts_url) and credentials.client_id/client_secret/refresh_token."
            ) from None
        except requests.RequestException as exc:
            raise WebhookError(
                f"Could not reach Zoho Desk at {self.config.api_url} ({type(exc).__name__}) to {action}; check "
                "data_center (or api_url) and the network."
            ) from None
        if not response.ok:
            raise self.explain(response, action, validating_url, known)
        return response

    def all_webhooks(self) -> list[dict[str, Any]]:
        """Every webhook of the org (Zoho answers 204 when there is none)."""
        response = self._request("GET", "", "list the webhooks")
        if response.status_code == 204 or not response.content:
            return []
        data = response.json().get("data") or []
        return [hook for hook in data if isinstance(hook, dict)]

    def create(self, body: Mapping[str, Any], known: list[dict[str, Any]]) -> dict[str, Any]:
        return self._request("POST", "", "create the webhook", body, body.get("url"), known).json()

    def update(self, hook: Mapping[str, Any], body: Mapping[str, Any], known: list[dict[str, Any]]) -> dict[str, Any]:
        # Zoho re-validates the URL only when a PATCH changes it.
        changing_url = body.get("url") if body.get("url") != hook.get("url") else None
        return self._request("PATCH", f"/{hook['id']}", f"update webhook {hook['id']}", body, changing_url,
                             known).json()

    def delete(self, hook_id: str) -> None:
        self._request("DELETE", f"/{hook_id}", f"delete webhook {hook_id}")

    # ---- the commands -----------------------------------------------------------------------------
    def register(self, service_url: str, name: str = DEFAULT_NAME, streams: Iterable[str] | None = None,
                 include_automation: bool = False) -> Registration:
        """Create the webhook, or PATCH the one with this name (else this URL) so a rerun never duplicates it."""
        check_service_url(service_url)
        streams = tuple(STREAM_EVENTS) if streams is None else tuple(streams)
        hooks = self.all_webhooks()
        matches = [h for h in hooks if h.get("name") == name] + [
            h for h in hooks if h.get("url") == service_url and h.get("name") != name]
        subscriptions = subscriptions_for(streams)
        body: dict[str, Any] = {
            "name": name,
            "url": service_url,
            "description": f"{MARKER} for the streams {', '.join(streams)}; delivers to its webhook collector.",
            "subscriptions": subscriptions,
            "isEnabled": True,
        }
        if include_automation:
            # Changes made by workflows, macros and blueprints are not sent unless asked for (OAS Webhook.json).
            body["includeEventsFrom"] = ["AUTOMATION"]
        if not matches:
            return Registration(self.create(body, hooks), created=True)
        existing = matches[0]
        if not include_automation and existing.get("includeEventsFrom"):
            body["includeEventsFrom"] = []  # converge: a rerun without the flag switches automation events off
        return Registration(self.update(existing, body, hooks), created=False, others=matches[1:])

    def ours(self, name: str = DEFAULT_NAME, hooks: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """This connector's webhooks among `hooks` (default: the org's): the given name, or our description marker."""
        hooks = self.all_webhooks() if hooks is None else hooks
        return [h for h in hooks if h.get("name") == name or str(h.get("description") or "").startswith(MARKER)]

    def remove(self, name: str = DEFAULT_NAME, hook_id: str | None = None) -> list[dict[str, Any]]:
        """Delete the webhook with this id, or every webhook with this name; returns what was deleted."""
        if hook_id is not None:
            hooks = [h for h in self.all_webhooks() if str(h.get("id")) == hook_id]
            if not hooks:
                raise WebhookError(
                    f"Org {self.config.org_id} has no webhook with id {hook_id}; `source-zoho-desk webhook status "
                    "--config F` lists this connector's webhooks and their ids."
                )
        else:
            hooks = [h for h in self.all_webhooks() if h.get("name") == name]
        for hook in hooks:
            self.delete(str(hook["id"]))
        return hooks

    # ---- Zoho's error answers → one line with the fix ----------------------------------------------
    def explain(self, response: requests.Response, action: str, validating_url: str | None = None,
                known: list[dict[str, Any]] | None = None) -> WebhookError:
        code, message, body = zoho_error(response)
        if validating_url:
            # Zoho echoes the URL in its message; the token in it is a secret and must not reach the terminal.
            message = message.replace(validating_url, redact_url(validating_url))
        status = response.status_code
        said = f"({code or status}: {message})" if message else f"({code or status})"
        console = self.config.data_center.api_console_url
        if code == "LICENSE_ACCESS_LIMITED":
            return self._limit_error(body, known)
        if code == "SCOPE_MISMATCH":
            return WebhookError(
                f"The OAuth token may not {action} {said}: it needs the scope {WEBHOOK_SCOPES}. Generate a new "
                f"grant code in the API Console ({console}) → Self Client with that scope added to the connector's "
                "scopes, put it in credentials.grant_code and clear credentials.refresh_token."
            )
        if code == "OAUTH_ORG_MISMATCH":
            return WebhookError(
                f"org_id {self.config.org_id} is not the organisation the OAuth token was issued for "
                "(OAUTH_ORG_MISMATCH); use the org id of the portal chosen when generating the grant code."
            )
        if status == 401:
            return WebhookError(
                f"Zoho Desk at {self.config.api_url} rejected a freshly issued access token {said}: the "
                "organisation probably lives in another data centre; set data_center (or api_url/accounts_url) to "
                "the one you log in to Zoho Desk on."
            )
        if status == 403:
            return WebhookError(
                f"Zoho Desk refused to {action} {said}: the user who generated the grant code needs a profile with "
                "the Webhooks permission (Setup → Users and Control → Profiles)."
            )
        if status == 404:
            return WebhookError(
                f"Zoho Desk answered 404 {code} to {action} ({response.request.url}): check data_center/api_url, "
                "or run `source-zoho-desk webhook status --config F` to see the webhooks that exist."
            )
        if status == 429:
            return WebhookError(
                f"Zoho Desk's API limits were hit {said}; retry later (daily credits reset every 24 h)."
            )
        if validating_url and status in (400, 422) and _is_url_validation_failure(code, message, body):
            return WebhookError(
                f"Zoho Desk could not reach the service URL {redact_url(validating_url)} with its validation "
                f"GET/POST {said}{reachability_hint(validating_url)}. The collector must be publicly reachable from "
                "the internet on port 80 or 443 and answer 200: run `source-zoho-desk collector serve` there, check "
                "DNS, firewall and reverse proxy, and pass the service_url `collector create-source` printed."
            )
        if status in (400, 413, 415, 422):
            return WebhookError(
                f"Zoho Desk rejected the request to {action} with {status} {said}{_field_errors(body)}. This is a "
                "connector bug or an API change; please report it with this message."
            )
        return WebhookError(f"Zoho Desk answered {status} {said} to {action}; retry later.")

    def _limit_error(self, body: Mapping[str, Any], known: list[dict[str, Any]] | None) -> WebhookError:
        edition = str(body.get("editionType") or "this").title()
        raw_max = str(body.get("maxAllowedEntity") or "")
        maximum = int(raw_max) if raw_max.isdigit() else None
        if maximum == 0:
            return WebhookError(
                f"Zoho Desk's {edition} edition has no webhooks (LICENSE_ACCESS_LIMITED): they need Professional "
                f"or Enterprise ({EDITION_LIMITS} enabled webhooks). Upgrade, or set incremental.mode to polling."
            )
        hooks = known or []
        enabled = sum(1 for h in hooks if h.get("isEnabled"))
        if maximum is not None and hooks and len(hooks) >= maximum > enabled:
            # The cap on configured webhooks (20), enabled or not, rather than the edition's enabled cap.
            return WebhookError(
                f"Zoho Desk allows {maximum} webhooks per organisation, enabled or not (LICENSE_ACCESS_LIMITED); "
                f"delete one in {WEBHOOKS_UI}, or run `source-zoho-desk webhook remove`."
            )
        allowed = maximum if maximum is not None else "only a few"
        return WebhookError(
            f"Zoho Desk allows {allowed} enabled webhooks on this edition ({EDITION_LIMITS}; yours: {edition}, "
            f"LICENSE_ACCESS_LIMITED); disable or delete one in {WEBHOOKS_UI}, or run `source-zoho-desk webhook "
            "remove`."
        )


def check_service_url(url: str) -> None:
    """Reject what Zoho would refuse anyway (a non-http(s) URL), before any call is made."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise WebhookError(
            f"--service-url '{url}' is not an http(s) URL: pass the service_url that `source-zoho-desk collector "
            "create-source` printed.",
            USAGE,
        )


def _is_url_validation_failure(code: str, message: str, body: Mapping[str, Any]) -> bool:
    # A schema error names the offending field in errors[]; the URL check has no field (or names /url).
    fields = [e.get("fieldName") for e in body.get("errors") or () if isinstance(e, Mapping)]
    if fields:
        return all(f == "/url" for f in fields) and bool(re.search(r"validat|reach|respond", message, re.I))
    return code in ("UNPROCESSABLE_ENTITY", "INVALID_DATA", "") or "url" in message.lower()


def _field_errors(body: Mapping[str, Any]) -> str:
    fields = [f"{e.get('fieldName')} {e.get('errorType')}" for e in body.get("errors") or () if isinstance(e, Mapping)]
    return f" [{'; '.join(fields)}]" if fields else ""
