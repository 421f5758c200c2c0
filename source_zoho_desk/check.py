"""`check`: one cheap Desk call that tells apart every way a config can be wrong, each with its fix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import requests

from source_zoho_desk.config import config_error
from source_zoho_desk.errors import zoho_error

if TYPE_CHECKING:
    from source_zoho_desk.streams.base import StreamContext

CHECK_TIMEOUT_SECONDS = 60


def check_desk_access(context: StreamContext) -> None:
    """Mint a token (surfacing token errors), then list one department with the orgId header."""
    config = context.config
    session = requests.Session()
    session.auth = context.authenticator
    response = session.get(
        f"{config.api_url}/departments",
        params={"from": 0, "limit": 1},
        headers={"orgId": config.org_id},
        timeout=CHECK_TIMEOUT_SECONDS,
    )
    context.meter.record("check", response)
    if response.ok:
        return
    code, message, _ = zoho_error(response)
    if code == "OAUTH_ORG_MISMATCH":
        raise config_error(
            f"org_id {config.org_id} is not the organisation this token was issued for (OAUTH_ORG_MISMATCH)."
            + _accessible_orgs_hint(session, config.api_url)
            + " Use one of those ids, or generate a new grant code choosing this organisation's portal."
        )
    if code == "SCOPE_MISMATCH":
        raise config_error(
            "The OAuth token lacks the scope Desk.basic.READ (SCOPE_MISMATCH). Generate a new grant code with "
            "the scopes listed in the README (Desk.tickets.READ,Desk.contacts.READ,Desk.basic.READ,…)."
        )
    if response.status_code == 401:
        raise config_error(
            f"The Desk API at {config.api_url} rejected a freshly issued access token ({code or 401}: {message}). "
            "The organisation probably lives in another data centre: set data_center to the domain you log in "
            "to Zoho Desk on (desk.zoho.eu → EU, …) and make sure api_url/accounts_url, if set, match it."
        )
    if response.status_code == 404:
        raise config_error(
            f"{config.api_url}/departments does not exist (404 {code}). api_url must be a Zoho Desk API base "
            "such as https://desk.zoho.com/api/v1; leave it empty to use data_center's."
        )
    if response.status_code == 403:
        raise config_error(
            f"Zoho Desk refused access ({code or 403}: {message}). The user who generated the grant code needs a "
            "Zoho Desk profile that can read departments, and the token the read scopes listed in the README."
        )
    response.raise_for_status()


def _accessible_orgs_hint(session: requests.Session, api_url: str) -> str:
    # /organizations needs no orgId; listing what the token can reach makes the fix obvious.
    try:
        response = session.get(f"{api_url}/organizations", timeout=CHECK_TIMEOUT_SECONDS)
        orgs = response.json().get("data", []) if response.ok else []
    except (requests.RequestException, ValueError, AttributeError):
        return ""
    names = [f"{org.get('id')} ({org.get('companyName') or org.get('portalName') or 'unnamed'})"
             for org in orgs if isinstance(org, Mapping)]
    return f" The token can reach: {', '.join(names)}." if names else ""
