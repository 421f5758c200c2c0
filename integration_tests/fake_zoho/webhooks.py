"""Webhook subscriptions as Zoho keeps them: body checks, URL validation, edition limits, signed delivery."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from integration_tests.fake_zoho import defaults
from integration_tests.fake_zoho.records import WEBHOOK_CODE, make_id


class WebhookError(Exception):
    """A webhook call Zoho rejects: HTTP status plus Zoho's error body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


def _invalid(message: str, field_name: str, error_type: str = "invalid") -> WebhookError:
    return WebhookError(422, {
        "errorCode": "INVALID_DATA", "message": message,
        "errors": [{"fieldName": f"/{field_name}", "errorType": error_type, "errorMessage": message}],
    })


@dataclass
class Webhooks:
    """Registered webhooks plus the switches that shape Zoho's answers."""

    seed: int
    org_id: str
    events: dict[str, dict[str, Any]]  # oas_facts webhook_events
    now_ms: Callable[[], int]
    validate_urls: bool = True
    enabled_limit: int = defaults.WEBHOOK_ENABLED_LIMIT
    total_limit: int = defaults.WEBHOOK_TOTAL_LIMIT
    edition: str = defaults.EDITION
    creator_id: str = "0"
    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.counter = 0
        self.signing_key: Any = None  # created on first delivery (RSA key generation takes ~50 ms)
        self.kid = "fake-zoho-" + uuid.uuid4().hex[:8]

    # ---- the REST API -------------------------------------------------------------------------
    def check_body(self, body: Any, creating: bool) -> dict[str, Any]:
        """Validate a POST/PATCH body like Zoho's request schema (required keys, known events)."""
        if not isinstance(body, dict) or not body:
            raise WebhookError(422, {"errorCode": "EMPTY_PAYLOAD", "message": "The payload is empty."})
        allowed = {"url", "name", "description", "subscriptions", "isEnabled", "includeEventsFrom",
                   "ignoreSourceId"}
        for key in body:
            if key not in allowed:
                raise _invalid(f"An extra parameter '{key}' is found in the input.", key)
        if creating:
            for key in ("url", "subscriptions"):
                if key not in body:
                    raise _invalid(f"The parameter '{key}' is mandatory.", key, "missing")
        if "url" in body and (not isinstance(body["url"], str) or not body["url"].startswith(("http://", "https://"))):
            raise _invalid("The value passed for 'url' is invalid.", "url")
        if "subscriptions" in body:
            subs = body["subscriptions"]
            if not isinstance(subs, dict) or not subs:
                raise _invalid("The value passed for 'subscriptions' is invalid.", "subscriptions")
            for name, value in subs.items():
                spec = self.events.get(name)
                if spec is None:
                    raise _invalid(f"The event '{name}' is not a valid subscription.", f"subscriptions/{name}")
                if value is None:
                    continue
                allowed_keys = set(spec.get("filters") or ()) | ({"includePrevState"} if spec.get("includePrevState")
                                                                  else set())
                if not (spec.get("takes_filter_object") and isinstance(value, dict)) or set(value) - allowed_keys:
                    raise _invalid(f"The filters given for event '{name}' are not supported.", f"subscriptions/{name}")
        if "name" in body and len(str(body["name"])) > 100:
            raise _invalid("The value passed for 'name' exceeds 100 characters.", "name")
        if "isEnabled" in body and not isinstance(body["isEnabled"], bool):
            raise _invalid("The value passed for 'isEnabled' is invalid.", "isEnabled")
        return body

    def _limit_error(self, maximum: int) -> WebhookError:
        return WebhookError(403, {
            "errorCode": "LICENSE_ACCESS_LIMITED",
            "message": "You have reached the maximum number of webhooks allowed in your edition.",
            # maxAllowedEntity is a digit string in OAS Common.json.
            "maxAllowedEntity": str(maximum), "feature": "WEBHOOKS", "editionType": self.edition, "isTrial": False,
        })

    def _enabled_count(self, excluding: str | None = None) -> int:
        return sum(1 for k, h in self.hooks.items() if h["isEnabled"] and k != excluding)

    async def validate_url(self, url: str) -> None:
        """Zoho's check: a GET to the URL; if that is not 200, a POST; neither 200 -> the call fails."""
        if not self.validate_urls:
            return
        async with httpx.AsyncClient(timeout=5.0) as client:
            for method in ("GET", "POST"):
                try:
                    response = await client.request(method, url, json=[] if method == "POST" else None)
                except httpx.HTTPError:
                    continue
                if response.status_code == 200:
                    return
        raise WebhookError(422, {
            "errorCode": "UNPROCESSABLE_ENTITY",
            "message": f"The URL '{url}' did not respond with 200 OK to the validation request.",
        })

    async def create(self, body: Any) -> dict[str, Any]:
        body = self.check_body(body, creating=True)
        enabled = body.get("isEnabled", True)
        with self.lock:
            if len(self.hooks) >= self.total_limit:
                raise self._limit_error(self.total_limit)
            if enabled and self._enabled_count() >= self.enabled_limit:
                raise self._limit_error(self.enabled_limit)
        await self.validate_url(body["url"])
        with self.lock:
            self.counter += 1
            now = self.now_ms()
            hook = {
                "id": make_id(self.seed, WEBHOOK_CODE, self.counter), "url": body["url"],
                "name": body.get("name", f"webhook {self.counter}"), "description": body.get("description"),
                "subscriptions": body["subscriptions"], "isEnabled": enabled,
                "includeEventsFrom": body.get("includeEventsFrom", []), "ignoreSourceId": body.get("ignoreSourceId"),
                "createdBy": self.creator_id, "createdTime": now, "modifiedTime": now, "type": "CUSTOMER_WEBHOOK",
            }
            self.hooks[hook["id"]] = hook
            return dict(hook)

    async def update(self, hook_id: str, body: Any) -> dict[str, Any]:
        body = self.check_body(body, creating=False)
        with self.lock:
            hook = self.hooks.get(hook_id)
            if hook is None:
                raise WebhookError(404, {"errorCode": "URL_NOT_FOUND",
                                         "message": "The URL you requested could not be found."})
            if body.get("isEnabled") and not hook["isEnabled"] and self._enabled_count() >= self.enabled_limit:
                raise self._limit_error(self.enabled_limit)
        if "url" in body and body["url"] != hook["url"]:
            await self.validate_url(body["url"])  # Zoho re-validates only when the URL changes
        with self.lock:
            hook.update(body)
            hook["modifiedTime"] = self.now_ms()
            return dict(hook)

    def delete(self, hook_id: str) -> None:
        with self.lock:
            if self.hooks.pop(hook_id, None) is None:
                raise WebhookError(404, {"errorCode": "URL_NOT_FOUND",
                                         "message": "The URL you requested could not be found."})

    # ---- delivery -----------------------------------------------------------------------------
    def _key(self) -> Any:
        if self.signing_key is None:
            from cryptography.hazmat.primitives.asymmetric import rsa

            self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self.signing_key

    def jwks(self) -> dict[str, Any]:
        """The public key set Zoho publishes at /.well-known/jwks.json for X-ZDesk-JWT."""
        from jwt.algorithms import RSAAlgorithm

        jwk = json.loads(RSAAlgorithm.to_jwk(self._key().public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def signed_header(self, hook_id: str) -> str:
        """X-ZDesk-JWT: RS256 over iss=orgId:<org>, aud=webhookId:<id>; the body is not signed."""
        import jwt

        now = int(time.time())
        claims = {"iss": f"orgId:{self.org_id}", "aud": f"webhookId:{hook_id}", "iat": now, "exp": now + 300}
        return jwt.encode(claims, self._key(), algorithm="RS256", headers={"kid": self.kid})

    def deliver(self, events: list[dict[str, Any]], timeout: float = 5.0) -> list[tuple[str, int | str]]:
        """POST the events (one JSON array per webhook) to every enabled webhook subscribed to them.

        Returns (webhook id, HTTP status or error text). A 410 answer removes the webhook, as in Zoho.
        """
        results: list[tuple[str, int | str]] = []
        with self.lock:
            hooks = [dict(h) for h in self.hooks.values() if h["isEnabled"]]
        for hook in hooks:
            wanted = [e for e in events if e["eventType"] in hook["subscriptions"]]
            if not wanted:
                continue
            headers = {"X-ZDesk-JWT": self.signed_header(hook["id"]), "Content-Type": "application/json"}
            try:
                status: int | str = httpx.post(hook["url"], content=json.dumps(wanted), headers=headers,
                                               timeout=timeout).status_code
            except httpx.HTTPError as exc:
                status = f"{type(exc).__name__}: {exc}"
            if status == 410:
                with self.lock:
                    self.hooks.pop(hook["id"], None)
            results.append((hook["id"], status))
        return results
