"""The shared Azure credential (runtime.md §8): method selection, deadline, invalidation."""

from __future__ import annotations

import time
from typing import Any

import pytest
from azure import identity
from azure.core.credentials import AccessToken

from vpipe_core.azure_auth import (
    AzureAuthMethod,
    AzureAuthSettings,
    AzureCredential,
    TokenTimeout,
    identity_credential,
    load_auth_settings,
)
from vpipe_core.config.loader import ConfigError


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, identity.DefaultAzureCredential),
        ({"AZURE_AUTH_METHOD": "cli"}, identity.AzureCliCredential),
        ({"AZURE_AUTH_METHOD": "managed-identity"}, identity.ManagedIdentityCredential),
        (
            {"AZURE_AUTH_METHOD": "managed-identity", "AZURE_CLIENT_ID": "uami"},
            identity.ManagedIdentityCredential,
        ),
        (
            {
                "AZURE_AUTH_METHOD": "service-principal",
                "AZURE_TENANT_ID": "tenant",
                "AZURE_CLIENT_ID": "client",
                "AZURE_CLIENT_SECRET": "secret",
            },
            identity.ClientSecretCredential,
        ),
    ],
)
def test_the_method_variable_chooses_the_credential(env: dict[str, str], expected: type):
    credential = identity_credential(load_auth_settings(env))

    assert isinstance(credential, expected)


def test_a_service_principal_needs_its_ids_and_a_secret_or_certificate():
    with pytest.raises(ConfigError) as raised:
        load_auth_settings({"AZURE_AUTH_METHOD": "service-principal"})

    problems = raised.value.problems
    assert [p.split(":")[0] for p in problems] == [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
    ]


def test_an_unknown_method_is_a_config_error_naming_the_variable():
    with pytest.raises(ConfigError, match="AZURE_AUTH_METHOD: got 'token-file'"):
        load_auth_settings({"AZURE_AUTH_METHOD": "token-file"})


class FakeIdentity:
    def __init__(self, serial: int, delay_s: float = 0.0) -> None:
        self.serial, self.delay_s, self.closed = serial, delay_s, False

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        time.sleep(self.delay_s)
        return AccessToken(f"token-{self.serial}", 2_000_000_000)

    def close(self) -> None:
        self.closed = True


def shared(delay_s: float = 0.0, timeout_s: float = 5.0) -> tuple[AzureCredential, list[Any]]:
    made: list[FakeIdentity] = []

    def factory(_: AzureAuthSettings) -> Any:
        made.append(FakeIdentity(len(made) + 1, delay_s))
        return made[-1]

    settings = AzureAuthSettings(method=AzureAuthMethod.CLI)
    return AzureCredential(settings, factory, timeout_s), made


def test_invalidate_replaces_the_identity_and_close_leaves_the_shared_one_open():
    credential, made = shared()

    assert credential.get_token("scope").token == "token-1"
    credential.close()  # what a client does when it closes: the shared credential stays
    assert not made[0].closed
    credential.invalidate()

    assert credential.get_token("scope").token == "token-2"
    assert made[0].closed and credential.get_token_info("scope").token == "token-2"


def test_a_hanging_token_call_times_out():
    credential, _ = shared(delay_s=2.0, timeout_s=0.2)
    started = time.monotonic()

    with pytest.raises(TokenTimeout, match="AZURE_AUTH_METHOD=cli"):
        credential.get_token("scope")
    assert time.monotonic() - started < 1.5
