"""How Delta writers reach storage: a bearer token renewed before expiry (protocol level, a fake
credential and clock, no Azure), the CA bundle exported to the Delta process, and the settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import pytest

from vpipe_core.config.loader import load_settings
from vpipe_core.delta import DeltaProcess, DeltaSink, DeltaWriteError
from vpipe_core.delta.schema import Column, TableSpec
from vpipe_core.delta.settings import DeltaSettings
from vpipe_core.delta.storage import (
    STORAGE_SCOPE,
    TOKEN_KEY,
    BearerTokenOptions,
    is_azure_uri,
    process_environment,
    storage_options,
)
from vpipe_core.outcome import Category

SPEC = TableSpec(name="t", columns=(Column("id", "string"),))


@attrs.define
class Token:
    token: str
    expires_on: int


class FakeCredential:
    """Issues short-lived tokens `t1`, `t2`, …; `fail` makes the next request raise."""

    def __init__(self, clock: FakeClock, lifetime_s: int) -> None:
        self.clock, self.lifetime_s = clock, lifetime_s
        self.scopes: list[tuple[str, ...]] = []
        self.fail: Exception | None = None

    def get_token(self, *scopes: str, **_: Any) -> Token:
        if self.fail is not None:
            raise self.fail
        self.scopes.append(scopes)
        return Token(f"t{len(self.scopes)}", int(self.clock.now + self.lifetime_s))


@attrs.define
class FakeClock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class RecordingProcess:
    """A DeltaProcess stand-in at the pipe: records what each call would send."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def call(self, operation: str, args: tuple[Any, ...], timeout_s: float) -> Any:
        self.calls.append((operation, args))
        return {} if operation == "ensure" else None

    def close(self) -> None:
        pass

    def options_sent(self) -> list[Mapping[str, str] | None]:
        return [args[1] for _, args in self.calls]


def test_the_token_is_renewed_before_expiry_and_the_options_change_with_it():
    clock = FakeClock()
    credential = FakeCredential(clock, lifetime_s=900)  # 15 minute tokens
    options = BearerTokenOptions(credential, renew_margin_s=300 + 60, clock=clock)
    process = RecordingProcess()
    uri = "abfss://ws@onelake.dfs.fabric.microsoft.com/lh/Tables/t"
    sink = DeltaSink(uri, SPEC, options, process=process)  # type: ignore[arg-type]

    sink.committed_version("app")
    clock.now += 500  # 400 s left: more than the margin
    sink.committed_version("app")
    clock.now += 60  # 340 s left: under 5 min + the 60 s write timeout, so renewed now
    sink.committed_version("app")

    sent = process.options_sent()
    assert [o[TOKEN_KEY] for o in sent if o] == ["t1", "t1", "t2"]
    assert credential.scopes == [(STORAGE_SCOPE,), (STORAGE_SCOPE,)]


def test_the_margin_is_never_below_five_minutes():
    clock = FakeClock()
    credential = FakeCredential(clock, lifetime_s=600)
    options = BearerTokenOptions(credential, renew_margin_s=10, clock=clock)
    assert options()[TOKEN_KEY] == "t1"
    clock.now += 301  # 299 s left
    assert options()[TOKEN_KEY] == "t2"


def test_a_failing_token_request_is_an_auth_error_for_the_batch():
    clock = FakeClock()
    credential = FakeCredential(clock, lifetime_s=600)
    credential.fail = TimeoutError("az cli hung")
    options = BearerTokenOptions(credential, renew_margin_s=300, clock=clock)
    with pytest.raises(DeltaWriteError) as caught:
        options()
    assert caught.value.category == Category.AUTH and "az cli hung" in caught.value.message


def test_only_azure_tables_get_a_token(tmp_path):
    clock = FakeClock()
    credential = FakeCredential(clock, lifetime_s=3600)
    assert storage_options(str(tmp_path / "t"), {}, 300, credential) is None
    assert storage_options("file:///data/t", {}, 300, credential) is None
    azure = storage_options("abfss://c@acct.dfs.core.windows.net/t", {}, 300, credential)
    assert callable(azure) and azure()[TOKEN_KEY] == "t1"
    assert is_azure_uri("az://container/t") and is_azure_uri(
        "https://onelake.dfs.fabric.microsoft.com/ws/lh/Tables/t"
    )
    assert not is_azure_uri("s3://bucket/t")


def test_the_ca_bundle_is_exported_to_the_delta_process(tmp_path):
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    process = DeltaProcess(process_environment(bundle))
    try:
        assert process.call("environment_variable", ("SSL_CERT_FILE",), 60) == str(bundle)
    finally:
        process.close()
    assert process_environment(None) == {}


def test_delta_settings_defaults_and_overrides():
    assert load_settings(DeltaSettings, {}) == DeltaSettings(
        enable_writes=True, write_timeout_s=300
    )
    changed = load_settings(
        DeltaSettings, {"ENABLE_DELTA_WRITES": "false", "DELTA_WRITE_TIMEOUT_SECONDS": "42"}
    )
    assert (changed.enable_writes, changed.write_timeout_s) == (False, 42)
