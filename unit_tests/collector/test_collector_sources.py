"""Data sources: unguessable hashed tokens, rotation revokes, URL token and drain credential kept apart."""

from __future__ import annotations

import sqlite3

import pytest

from source_zoho_desk.collector.sources import SQLiteSourceRegistry, UnknownSource, hash_secret


@pytest.fixture
def reg(tmp_path):
    r = SQLiteSourceRegistry(tmp_path / "sources.db")
    yield r
    r.close()


def test_create_issues_long_random_secrets_stored_only_as_hashes(reg, tmp_path):
    issued = reg.create("123", "prod")
    assert len(issued.url_token) >= 43  # 32 bytes url-safe base64 = 256 bits
    assert issued.drain_credential.startswith("zdc_")
    assert reg.by_url_token(issued.url_token) == issued.source
    assert reg.check_credential(issued.source.id, issued.drain_credential) == issued.source
    dump = "\n".join(sqlite3.connect(tmp_path / "sources.db").iterdump())
    assert issued.url_token not in dump and issued.drain_credential not in dump
    assert hash_secret("url", issued.url_token) in dump


def test_tokens_differ_between_sources(reg):
    a, b = reg.create("1"), reg.create("1")
    assert len({a.url_token, b.url_token, a.drain_credential, b.drain_credential, a.source.id, b.source.id}) == 6


def test_url_token_is_not_a_credential_and_vice_versa(reg):
    issued = reg.create("1")
    assert reg.check_credential(issued.source.id, issued.url_token) is None
    assert reg.by_url_token(issued.drain_credential) is None


def test_credential_is_bound_to_its_source(reg):
    a, b = reg.create("1"), reg.create("1")
    assert reg.check_credential(b.source.id, a.drain_credential) is None
    assert reg.check_credential("ds_0000000000000000", a.drain_credential) is None


def test_rotate_url_revokes_the_old_one(reg):
    issued = reg.create("1")
    new = reg.rotate_url(issued.source.id)
    assert new.url_token != issued.url_token and new.drain_credential is None
    assert reg.by_url_token(issued.url_token) is None
    assert reg.by_url_token(new.url_token).id == issued.source.id
    assert reg.check_credential(issued.source.id, issued.drain_credential) is not None  # untouched


def test_rotate_credential_revokes_the_old_one(reg):
    issued = reg.create("1")
    new = reg.rotate_credential(issued.source.id)
    assert reg.check_credential(issued.source.id, issued.drain_credential) is None
    assert reg.check_credential(issued.source.id, new.drain_credential) is not None
    assert reg.by_url_token(issued.url_token) is not None  # untouched


def test_unknown_source_and_bad_org(reg):
    with pytest.raises(UnknownSource):
        reg.rotate_url("ds_nope")
    with pytest.raises(UnknownSource):
        reg.rotate_credential("ds_nope")
    for bad in ("", "a b", "x" * 65, "1;DROP"):
        with pytest.raises(ValueError):
            reg.create(bad)


def test_changes_are_visible_to_another_registry_on_the_same_file(tmp_path):
    # the CLI (one process) and the server (another) share the file
    server, cli = SQLiteSourceRegistry(tmp_path / "s.db"), SQLiteSourceRegistry(tmp_path / "s.db")
    try:
        issued = cli.create("9")
        assert server.by_url_token(issued.url_token) is not None
        cli.rotate_url(issued.source.id)
        assert server.by_url_token(issued.url_token) is None
        assert [s.id for s in server.list()] == [issued.source.id]
    finally:
        server.close()
        cli.close()


def test_token_cache_sees_rotation_by_this_and_by_another_connection(tmp_path):
    server, cli = SQLiteSourceRegistry(tmp_path / "s.db"), SQLiteSourceRegistry(tmp_path / "s.db")
    try:
        issued = cli.create("9")
        assert server.by_url_token(issued.url_token) is not None  # now cached in `server`
        assert server.by_url_token(issued.url_token) is not None
        cli.rotate_url(issued.source.id)  # another connection: noticed through PRAGMA data_version
        assert server.by_url_token(issued.url_token) is None
        newer = server.rotate_url(issued.source.id)  # this connection: the cache is dropped explicitly
        assert server.by_url_token(newer.url_token) is not None
        newest = server.rotate_url(issued.source.id)
        assert server.by_url_token(newer.url_token) is None
        assert server.by_url_token(newest.url_token) is not None
        for _ in range(100):  # unknown tokens are never cached
            server.by_url_token("guess")
        assert len(server._by_token) <= 1
    finally:
        server.close()
        cli.close()
