"""OAUTHBEARER to the pipeline broker (`KAFKA_SASL_MECHANISM=OAUTHBEARER`): every client of a
worker asks the process's shared Azure credential for a token of `KAFKA_OAUTH_SCOPE` (default:
the first bootstrap host's `/.default`), and Apache Kafka accepts it. The credential is the only
stand-in: it returns an unsigned JWT, which the broker's unsecured-token validator takes where
Azure Event Hubs would check Azure AD's signature."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from azure.core.credentials import AccessToken
from confluent_kafka import Consumer, Producer

from vpipe_core.config.core import CoreSettings
from vpipe_core.config.loader import ConfigError, load_settings
from vpipe_core.kafka.clientconf import common_config, consumer_config, producer_config
from vpipe_testing.broker import free_port
from vpipe_testing.brokers import broker_kind
from vpipe_testing.kafka import ensure_topics

OAUTH = {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "OAUTHBEARER"}


def unsigned_jwt(subject: str, expires_at: float) -> str:
    def part(claims: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()

    now = int(time.time())
    return f"{part({'alg': 'none'})}.{part({'sub': subject, 'iat': now, 'exp': int(expires_at)})}."


class Credential:
    """The shared credential's stand-in: records the scopes asked for. `forged`: hand out a
    token that is not a JWT, which the broker must refuse."""

    def __init__(self) -> None:
        self.scopes: list[str] = []
        self.forged = False

    def get_token(self, scope: str) -> AccessToken:
        self.scopes.append(scope)
        expires_at = time.time() + 3600
        token = "not-a-jwt" if self.forged else unsigned_jwt("vpipe-worker", expires_at)
        return AccessToken(token, int(expires_at))


@pytest.fixture
def credential(monkeypatch: pytest.MonkeyPatch) -> Credential:
    shared = Credential()
    monkeypatch.setattr("vpipe_core.azure_auth.shared_credential", lambda env: shared)
    return shared


def test_the_scope_defaults_to_the_first_bootstrap_host(credential: Credential) -> None:
    env = {**OAUTH, "KAFKA_BOOTSTRAP_SERVERS": "ns.servicebus.windows.net:9093,other:9093"}
    config = common_config(load_settings(CoreSettings, env))
    token, expires_at = config["oauth_cb"]("")
    assert token.endswith(".") and expires_at > time.time()
    chosen = load_settings(CoreSettings, {**env, "KAFKA_OAUTH_SCOPE": "api://kafka/.default"})
    common_config(chosen)["oauth_cb"]("")
    assert credential.scopes == [
        "https://ns.servicebus.windows.net/.default",
        "api://kafka/.default",
    ]


def test_a_credential_that_fails_is_logged_with_its_reason(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def failing(env: Any) -> Any:
        raise ConfigError(["AZURE_TENANT_ID: required when AZURE_AUTH_METHOD=service-principal"])

    monkeypatch.setattr("vpipe_core.azure_auth.shared_credential", failing)
    env = {**OAUTH, "KAFKA_BOOTSTRAP_SERVERS": "ns.servicebus.windows.net:9093"}
    callback = common_config(load_settings(CoreSettings, env))["oauth_cb"]
    with pytest.raises(ConfigError):
        callback("")
    [record] = [r for r in caplog.records if r.name == "vpipe.kafka.oauth"]
    assert "AZURE_TENANT_ID: required" in record.getMessage()
    assert record.scope == "https://ns.servicebus.windows.net/.default"


def test_other_mechanisms_get_no_token_callback() -> None:
    env = {**OAUTH, "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "u"}
    assert "oauth_cb" not in common_config(load_settings(CoreSettings, env))


@pytest.fixture
def oauth_kafka(tmp_path: Path) -> Any:
    if broker_kind() != "kafka":
        pytest.skip("needs Apache Kafka's OAUTHBEARER listener: run with --broker kafka")
    from vpipe_testing.apache_kafka import ApacheKafka

    with ApacheKafka(tmp_path / "data", oauth_port=free_port()) as kafka:
        yield kafka


def test_a_workers_clients_authenticate_with_the_shared_credentials_token(
    oauth_kafka: Any, credential: Credential
) -> None:
    ensure_topics(oauth_kafka.bootstrap, ["oauth.check"], 1)  # over the plain listener
    env = {
        **OAUTH,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{oauth_kafka.oauth_port}",
        "KAFKA_OAUTH_SCOPE": "api://vpipe-kafka/.default",
    }
    settings = load_settings(CoreSettings, env)
    producer = Producer(producer_config(settings, "oauth-producer"))
    producer.produce("oauth.check", b"through OAUTHBEARER", b"k")
    assert producer.flush(30) == 0

    config = consumer_config(settings, "oauth-group", "oauth-consumer")
    consumer = Consumer({**config, "auto.offset.reset": "earliest"})
    consumer.subscribe(["oauth.check"])
    deadline, received = time.monotonic() + 30, None
    try:
        while received is None and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                received = message.value()
    finally:
        consumer.close()
    assert received == b"through OAUTHBEARER"
    assert set(credential.scopes) == {"api://vpipe-kafka/.default"}


def test_a_token_the_broker_refuses_is_an_authentication_error(
    oauth_kafka: Any, credential: Credential
) -> None:
    credential.forged = True
    env = {**OAUTH, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{oauth_kafka.oauth_port}"}
    errors: list[Any] = []
    failed: list[Any] = []
    config = producer_config(load_settings(CoreSettings, env), "oauth-refused")
    producer = Producer({**config, "error_cb": errors.append, "delivery.timeout.ms": 5000})
    producer.produce(
        "oauth.check", b"never delivered", b"k", on_delivery=lambda e, _m: failed.append(e)
    )
    producer.flush(15)
    assert len(failed) == 1 and failed[0] is not None, "nothing reaches a broker that refused it"
    assert any("SASL authentication error" in error.str() for error in errors), errors
