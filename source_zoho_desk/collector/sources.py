"""Data sources (one per Zoho Desk org/webhook): their service-URL tokens and drain credentials, stored hashed."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

# 32 random bytes = 256 bits, well above the 128 the issue asks for; url-safe so it sits in a path.
TOKEN_BYTES = 32
CREDENTIAL_PREFIX = "zdc_"
SOURCE_ID = re.compile(r"ds_[0-9a-f]{16}")
_ORG_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


def hash_secret(kind: str, secret: str) -> str:
    # The secrets are 256-bit random strings, so a fast hash is enough (nothing to brute-force); the
    # kind prefix keeps a URL token from ever matching as a drain credential and vice versa.
    return hashlib.sha256(f"{kind}:{secret}".encode("utf-8", "surrogatepass")).hexdigest()


def new_url_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_credential() -> str:
    return CREDENTIAL_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True)
class DataSource:
    id: str
    org_id: str
    name: str
    created_at_ms: int
    url_rotated_at_ms: int
    credential_rotated_at_ms: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IssuedSecrets:
    """What `create` / `rotate_*` hand out exactly once; only their hashes are kept."""

    source: DataSource
    url_token: str | None = None
    drain_credential: str | None = None


class UnknownSource(LookupError):
    pass


@runtime_checkable
class SourceRegistry(Protocol):
    """Storage of data sources; a networked backend implements the same methods."""

    def create(self, org_id: str, name: str = "") -> IssuedSecrets: ...

    def rotate_url(self, source_id: str) -> IssuedSecrets: ...

    def rotate_credential(self, source_id: str) -> IssuedSecrets: ...

    def list(self) -> list[DataSource]: ...

    def get(self, source_id: str) -> DataSource | None: ...

    def by_url_token(self, token: str) -> DataSource | None:
        """Called on the event loop for every webhook request: must answer from memory or a local file
        without waiting on the network (a networked backend caches and refreshes in the background)."""
        ...

    def check_credential(self, source_id: str, credential: str) -> DataSource | None: ...


def validate_org_id(org_id: str) -> str:
    org_id = org_id.strip()
    if not _ORG_ID.fullmatch(org_id):
        raise ValueError("org id must be 1-64 letters, digits, '-' or '_' (Zoho org ids are numeric)")
    return org_id


_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    name TEXT NOT NULL,
    url_token_hash TEXT NOT NULL UNIQUE,
    credential_hash TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    url_rotated_at_ms INTEGER NOT NULL,
    credential_rotated_at_ms INTEGER NOT NULL
);
"""
_COLUMNS = "id, org_id, name, created_at_ms, url_rotated_at_ms, credential_rotated_at_ms"


class SQLiteSourceRegistry:
    """Sources in their own small SQLite file. The CLI and the running server share it (WAL), so a
    source created or rotated from the command line takes effect on the next request, no restart."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # shared with queue.db (customer data)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        # url-token hash -> source, for known tokens only (unknown ones would let anyone grow it). Valid
        # while PRAGMA data_version is unchanged, i.e. no other process (the CLI) has written since.
        self._by_token: dict[str, DataSource] = {}
        self._cache_version = -1

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _one(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self._lock:
            return self._conn.execute(sql, args).fetchone()

    def create(self, org_id: str, name: str = "") -> IssuedSecrets:
        org_id = validate_org_id(org_id)
        now = int(time.time() * 1000)
        source = DataSource(f"ds_{secrets.token_hex(8)}", org_id, name[:200], now, now, now)
        token, credential = new_url_token(), new_credential()
        with self._lock:
            self._conn.execute(
                f"INSERT INTO sources ({_COLUMNS}, url_token_hash, credential_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*asdict(source).values(), hash_secret("url", token), hash_secret("credential", credential)),
            )
        return IssuedSecrets(source, token, credential)

    def rotate_url(self, source_id: str) -> IssuedSecrets:
        token = new_url_token()
        # Replacing the stored hash is the revocation: the old URL stops matching at once.
        self._update(source_id, "url_token_hash = ?, url_rotated_at_ms = ?", hash_secret("url", token))
        return IssuedSecrets(self._require(source_id), url_token=token)

    def rotate_credential(self, source_id: str) -> IssuedSecrets:
        credential = new_credential()
        self._update(
            source_id, "credential_hash = ?, credential_rotated_at_ms = ?", hash_secret("credential", credential)
        )
        return IssuedSecrets(self._require(source_id), drain_credential=credential)

    def _update(self, source_id: str, assignments: str, secret_hash: str) -> None:
        with self._lock:
            cur = self._conn.execute(
                f"UPDATE sources SET {assignments} WHERE id = ?", (secret_hash, int(time.time() * 1000), source_id)
            )
            # data_version only reports other connections' writes: forget our own cached view here.
            self._by_token.clear()
        if cur.rowcount != 1:
            raise UnknownSource(source_id)

    def _require(self, source_id: str) -> DataSource:
        source = self.get(source_id)
        if source is None:
            raise UnknownSource(source_id)
        return source

    def list(self) -> list[DataSource]:
        with self._lock:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM sources ORDER BY created_at_ms, id").fetchall()
        return [DataSource(*row) for row in rows]

    def get(self, source_id: str) -> DataSource | None:
        row = self._one(f"SELECT {_COLUMNS} FROM sources WHERE id = ?", (source_id,))
        return DataSource(*row) if row else None

    def by_url_token(self, token: str) -> DataSource | None:
        wanted = hash_secret("url", token)
        with self._lock:
            (version,) = self._conn.execute("PRAGMA data_version").fetchone()
            if version != self._cache_version:
                self._by_token.clear()
                self._cache_version = version
            source = self._by_token.get(wanted)
            if source is not None:
                return source
            row = self._conn.execute(
                f"SELECT {_COLUMNS}, url_token_hash FROM sources WHERE url_token_hash = ?", (wanted,)
            ).fetchone()
            # The lookup is on a hash the caller cannot steer; the final compare is constant-time anyway.
            if row is None or not hmac.compare_digest(row[-1], wanted):
                return None
            source = self._by_token[wanted] = DataSource(*row[:-1])
            return source

    def check_credential(self, source_id: str, credential: str) -> DataSource | None:
        given = hash_secret("credential", credential)
        row = self._one(f"SELECT {_COLUMNS}, credential_hash FROM sources WHERE id = ?", (source_id,))
        # Compare against a dummy when the source is unknown so timing does not reveal which ids exist.
        stored = row[-1] if row else hash_secret("credential", "")
        if not hmac.compare_digest(stored, given) or row is None:
            return None
        return DataSource(*row[:-1])
