"""Optional check of Zoho's X-ZDesk-JWT delivery header (RS256, iss=orgId:<org>, aud=webhookId:<id>)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt as pyjwt

HEADER = "x-zdesk-jwt"
# Zoho's header is a compact JWS of a few hundred bytes; a cap stops pathological inputs early.
MAX_TOKEN_LENGTH = 8192


class JwtRejected(ValueError):
    """The header is missing or does not verify; the message is safe to return to the caller."""


class JwtVerifier:
    """Verifies the header against a JWKS from a URL (Zoho's /.well-known/jwks.json, cached) or a file.
    Zoho signs only the header and claims, not the body, so this authenticates the sender, not the data."""

    def __init__(self, jwks_url: str | None = None, jwks_file: Path | None = None, leeway_s: int = 60) -> None:
        if bool(jwks_url) == bool(jwks_file):
            raise ValueError("give exactly one of jwks_url or jwks_file")
        self.leeway_s = leeway_s
        self._client = pyjwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600) if jwks_url else None
        self._keyset = pyjwt.PyJWKSet.from_dict(json.loads(Path(jwks_file).read_text())) if jwks_file else None

    def _key(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        header = pyjwt.get_unverified_header(token)
        kid = header.get("kid")
        assert self._keyset is not None
        for key in self._keyset.keys:
            if kid is None or key.key_id == kid:
                return key.key
        raise JwtRejected("X-ZDesk-JWT is signed with an unknown key")

    def verify(self, token: str | None, org_id: str) -> dict[str, Any]:
        """Blocking (may fetch the JWKS): call it from a worker thread."""
        if not token:
            raise JwtRejected("X-ZDesk-JWT header is missing")
        if len(token) > MAX_TOKEN_LENGTH:
            raise JwtRejected("X-ZDesk-JWT header is too long")
        try:
            claims = pyjwt.decode(
                token,
                self._key(token),
                algorithms=["RS256"],  # never trust the token's own alg choice
                issuer=f"orgId:{org_id}",
                leeway=self.leeway_s,
                # The webhook id is only known after the webhook is saved in Zoho, so the audience is
                # checked for shape below; the issuer binds the token to this data source's org.
                options={"require": ["exp", "iat", "iss", "aud"], "verify_aud": False},
            )
        except JwtRejected:
            raise
        except (pyjwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise JwtRejected(f"X-ZDesk-JWT does not verify: {type(exc).__name__}") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if not any(isinstance(a, str) and a.startswith("webhookId:") for a in audiences):
            raise JwtRejected("X-ZDesk-JWT audience is not a Zoho webhook")
        return claims
