"""`spec`, `check` and `discover` through the real entrypoint: every way a config can be wrong ends in a FAILED
status (or a config-error trace) naming the field to fix, and a grant-code-only config is exchanged exactly once."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from airbyte_cdk.models import FailureType, Status, Type
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from integration_tests.conftest import ALL_STREAMS, TOKEN_CALL, configured
from integration_tests.fake_zoho import defaults


def with_credentials(config: dict[str, Any], **credentials: Any) -> dict[str, Any]:
    merged = {**config["credentials"], **credentials}
    return {**config, "credentials": {k: v for k, v in merged.items() if v is not None}}


def failed_message(run: Any) -> str:
    status = run.status
    assert status.status == Status.FAILED, "check succeeded where it must fail"
    assert run.uncaught is None, f"check crashed: {run.uncaught!r}"
    return status.message


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_spec_is_the_packaged_spec(connector):
    run = connector.spec()
    [message] = run.of_type(Type.SPEC)
    properties = message.spec.connectionSpecification["properties"]
    assert {"data_center", "org_id", "credentials", "page_size", "api_url", "accounts_url"} <= set(properties)
    assert properties["credentials"]["properties"]["client_secret"]["airbyte_secret"] is True


def test_check_succeeds_with_one_token(zoho, connector):
    run = connector.check(zoho.config())
    assert run.status.status == Status.SUCCEEDED, run.status.message
    assert zoho.fake.calls()[TOKEN_CALL] == 1


def test_discover_offers_every_stream(zoho, connector):
    catalog = connector.catalog(zoho.config())
    assert {s.name for s in catalog.streams} == set(ALL_STREAMS)
    for stream in catalog.streams:
        assert stream.json_schema.get("type") == "object" and stream.json_schema.get("properties"), stream.name


def test_unknown_client_points_at_the_data_centre(zoho, connector):
    # A client registered in another data centre is unknown to this accounts server: invalid_client.
    config = with_credentials(zoho.config(data_center="EU"), client_id="1000.REGISTEREDINTHEUSDC")
    message = failed_message(connector.check(config))
    assert "data_center" in message and "(EU)" in message and "credentials.client_id" in message


def test_bad_client_secret_names_the_field(zoho, connector):
    message = failed_message(connector.check(with_credentials(zoho.config(), client_secret="not-the-secret")))
    assert "credentials.client_secret" in message


def test_expired_grant_code_names_the_field(zoho, connector):
    code = zoho.fake.issue_grant_code(ttl=-1)
    config = with_credentials(zoho.config(), refresh_token=None, grant_code=code)
    run = connector.check(config)
    message = failed_message(run)
    assert "credentials.grant_code" in message and "expired or was already used" in message
    assert not run.controls, "a failed exchange must not emit a config"


def test_already_used_grant_code_names_the_field(zoho, connector):
    code = zoho.fake.issue_grant_code()
    config = with_credentials(zoho.config(), refresh_token=None, grant_code=code)
    assert connector.check(config).status.status == Status.SUCCEEDED
    # The platform did not persist the emitted config; the same code comes back.
    message = failed_message(connector.check(config))
    assert "credentials.grant_code" in message and "already used" in message


def test_revoked_refresh_token_names_the_field(zoho, connector):
    zoho.fake.revoke_refresh_token(defaults.REFRESH_TOKEN)
    message = failed_message(connector.check(zoho.config()))
    assert "credentials.refresh_token" in message and "credentials.grant_code" in message


def test_wrong_org_id_lists_the_reachable_orgs(zoho, connector):
    message = failed_message(connector.check(zoho.config(org_id="987654321")))
    assert "org_id" in message and "OAUTH_ORG_MISMATCH" in message
    assert zoho.fake.org_id in message, "the message must list the org the token can reach"


def test_missing_scope_is_named(zoho, connector):
    zoho.fake.configure(scopes=["Desk.tickets.READ"])
    message = failed_message(connector.check(zoho.config()))
    assert "SCOPE_MISMATCH" in message and "Desk.basic.READ" in message


@pytest.mark.parametrize("suffix", ["", "/api/v2"])
def test_api_url_that_is_not_the_desk_api_names_api_url(zoho, connector, suffix):
    message = failed_message(connector.check(zoho.config(api_url=zoho.base_url + suffix)))
    assert "api_url" in message and "404" in message


def test_unreachable_api_url_names_data_center_and_api_url(zoho, connector):
    message = failed_message(connector.check(zoho.config(api_url=f"http://127.0.0.1:{closed_port()}/api/v1")))
    assert "data_center" in message and "api_url" in message


# The CDK validates the config against the spec before the connector runs; its messages name the bad
# value rather than the field. What passes the spec is validated by the connector, naming the field.
@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"page_size": 0}, "0 is less than the minimum of 1"),
        ({"page_size": 101}, "101 is greater than the maximum of 100"),
        ({"page_size": "many"}, "'many' is not of type 'integer'"),
        ({"data_center": "MARS"}, "'MARS' is not one of"),
        ({"org_id": "not-digits"}, "'not-digits' does not match"),
        ({"credentials": None}, "'credentials' is a required property"),
        ({"credentials": {"client_id": defaults.CLIENT_ID, "refresh_token": defaults.REFRESH_TOKEN}},
         "'client_secret' is a required property"),
        ({"credentials": {"client_id": defaults.CLIENT_ID, "client_secret": defaults.CLIENT_SECRET}},
         "credentials needs either refresh_token or grant_code"),
        ({"credentials": {"client_id": defaults.CLIENT_ID, "client_secret": "", "refresh_token": "x"}},
         "credentials.client_secret is empty"),
        ({"api_url": "desk.zoho.com/api/v1"}, "api_url 'desk.zoho.com/api/v1' is not an http(s) URL"),
        ({"start_date": "2024-13-45T00:00:00Z"}, "start_date"),
    ],
)
def test_invalid_config_fails_check_and_discover_without_crashing(zoho, connector, override, named):
    config = {k: v for k, v in {**zoho.config(), **override}.items() if v is not None}

    message = failed_message(connector.check(config))
    assert named in message, message

    discover = connector.discover(config)
    assert not discover.of_type(Type.CATALOG)
    error = discover.uncaught
    assert isinstance(error, AirbyteTracedException), f"discover crashed: {error!r}"
    assert error.failure_type == FailureType.config_error
    assert named in (error.message or ""), error.message
    assert zoho.fake.calls().get(TOKEN_CALL, 0) == 0, "an invalid config must fail before any network call"


# ---- grant-code flow ------------------------------------------------------------------------------------
def test_grant_code_is_exchanged_once_and_the_new_config_emitted(zoho, connector):
    fake = zoho.fake
    code = fake.issue_grant_code()
    config = with_credentials(zoho.config(), refresh_token=None, grant_code=code)

    # The catalog comes from an earlier discover with a working config, so the read is the first command
    # to see the code.
    first = connector.read(config, ["departments", "agents"], discover_with=zoho.config())

    assert not first.errors and first.uncaught is None, first.error_text()
    controls = first.controls
    assert len(controls) == 1, f"expected one CONTROL message, got {len(controls)}"
    control = controls[0].control
    assert control.type.value == "CONNECTOR_CONFIG"
    emitted = control.connectorConfig.config
    assert "grant_code" not in emitted["credentials"]
    new_token = emitted["credentials"]["refresh_token"]
    assert new_token and new_token != defaults.REFRESH_TOKEN
    assert fake.accounts.refresh_tokens.get(new_token) == defaults.CLIENT_ID, "not a token the fake issued"
    assert {k: v for k, v in emitted.items() if k != "credentials"} == \
        {k: v for k, v in config.items() if k != "credentials"}
    assert len(first.records_of("departments")) == fake.sizes["departments"]
    assert code not in fake.accounts.grant_codes

    catalog = connector.catalog(zoho.config())
    fake.reset_calls()
    second = connector.run(connector.args("read", emitted, configured(catalog, ["departments"])))
    assert not second.errors and second.uncaught is None, second.error_text()
    assert not second.controls, "a config with a refresh token must not be re-emitted"
    assert fake.calls()[TOKEN_CALL] == 1, "the rerun refreshes once and exchanges nothing"
    assert len(second.records_of("departments")) == fake.sizes["departments"]


def test_check_with_a_grant_code_emits_the_config_too(zoho, connector):
    config = with_credentials(zoho.config(), refresh_token=None, grant_code=zoho.fake.issue_grant_code())
    run = connector.check(config)
    assert run.status.status == Status.SUCCEEDED
    [control] = run.controls
    assert "refresh_token" in control.control.connectorConfig.config["credentials"]
    assert zoho.fake.accounts.refresh_tokens.get(
        control.control.connectorConfig.config["credentials"]["refresh_token"]) == defaults.CLIENT_ID
