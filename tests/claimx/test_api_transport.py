"""Proxy, TLS trust and settings of the ClaimX API client, checked at the protocol level."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from vpipe_claimx.api import ApiError, ClaimxApi
from vpipe_claimx.settings import ClaimxSettings
from vpipe_core.config.loader import ConfigError
from vpipe_core.outcome import Category
from vpipe_core.transfer.netconf import ProxyConfig
from vpipe_testing.claimx.fake_api import FakeClaimxApi

PROJECT = "5517342"
DIRECT = ProxyConfig()  # no proxy, whatever the environment says
UNREACHABLE = "http://claimx.invalid/service/cxedirest"  # .invalid never resolves (RFC 6761)
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def fake() -> Iterator[FakeClaimxApi]:
    with FakeClaimxApi() as server:
        yield server


# -- proxies -------------------------------------------------------------------------------


def test_http_proxy_from_the_environment_carries_the_request(
    fake: FakeClaimxApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", fake.origin)
    with ClaimxApi(UNREACHABLE, fake.token) as client:
        assert client.project(PROJECT)["companyName"] == "Northwind Mutual"
    request = fake.requests[-1]
    assert request.proxied_to == "claimx.invalid"
    assert request.path == "/service/cxedirest/export/project/5517342"


def test_proxy_credentials_become_proxy_authorization(
    fake: FakeClaimxApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", f"http://proxyuser:proxy%20pw@127.0.0.1:{fake.port}")
    with ClaimxApi(UNREACHABLE, fake.token) as client:
        client.project(PROJECT)
    header = fake.requests[-1].headers["proxy-authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")) == b"proxyuser:proxy pw"


def test_no_proxy_bypasses_the_proxy(fake: FakeClaimxApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", fake.origin)
    monkeypatch.setenv("NO_PROXY", "localhost,.invalid")
    with ClaimxApi(UNREACHABLE, fake.token) as client, pytest.raises(ApiError) as caught:
        client.project(PROJECT)
    assert (caught.value.category, caught.value.reason) == (Category.TRANSIENT, "connection error")
    assert fake.requests == []  # went direct, and claimx.invalid does not resolve


def test_proxy_of_the_other_scheme_is_not_used(
    fake: FakeClaimxApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens on the discard port
    with ClaimxApi(fake.url, fake.token) as client:
        assert client.project(PROJECT)["companyName"] == "Northwind Mutual"
    assert fake.requests[-1].proxied_to is None


# -- TLS and the CA bundle ---------------------------------------------------------------------


def test_https_with_the_ca_bundle() -> None:
    with FakeClaimxApi(tls=True) as fake:
        assert fake.url.startswith("https://")
        with ClaimxApi(fake.url, fake.token, ca_bundle=fake.ca_file, proxy=DIRECT) as client:
            assert client.project(PROJECT)["companyName"] == "Northwind Mutual"


def test_untrusted_certificate_is_a_transient_tls_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with FakeClaimxApi(tls=True) as fake:
        with (
            ClaimxApi(fake.url, fake.token, proxy=DIRECT) as client,
            pytest.raises(ApiError) as caught,
        ):
            client.project(PROJECT)
        assert fake.requests == []  # the handshake failed before any request
    assert (caught.value.category, caught.value.reason) == (Category.TRANSIENT, "TLS error")


def test_missing_ca_bundle_is_a_config_error(tmp_path: Path) -> None:
    """A CA path that does not exist fails at start, naming the variable: retrying every call
    would only fill the retry tiers with a configuration mistake."""
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError, match="CA_BUNDLE"):
        ClaimxApi("https://claimx.example/api", "dG9rZW4=", ca_bundle=missing, proxy=DIRECT)


# -- settings ------------------------------------------------------------------------------------


def test_from_settings(fake: FakeClaimxApi) -> None:
    settings = ClaimxSettings(
        api_url=fake.url,
        api_token=f"Basic {fake.token}",
        api_sender_username="sender@carrier.example",
        api_concurrency=2,
    )
    with ClaimxApi.from_settings(settings, None) as client:
        assert client.base_url == fake.url
        assert client.sender_username == "sender@carrier.example"
        assert client.project(PROJECT)["companyName"] == "Northwind Mutual"
    assert fake.requests[-1].headers["authorization"] == f"Basic {fake.token}"


def test_from_settings_without_a_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="CLAIMX_API_TOKEN"):
        ClaimxApi.from_settings(ClaimxSettings(), None)


@pytest.mark.parametrize("token", ["", "   ", "Basic ", "basic   "])
def test_blank_token_is_a_config_error(token: str) -> None:
    with pytest.raises(ConfigError, match="CLAIMX_API_TOKEN"):
        ClaimxApi("http://127.0.0.1:1/api", token, proxy=DIRECT)


def test_base_url_must_be_http() -> None:
    with pytest.raises(ConfigError, match="CLAIMX_API_URL"):
        ClaimxApi("ftp://claimx.example/api", "dG9rZW4=", proxy=DIRECT)


def test_from_settings_takes_proxy_and_ca_from_the_worker_environment() -> None:
    """`env` is the worker's effective environment (.env file included), not only os.environ."""
    with FakeClaimxApi(tls=True) as fake, FakeClaimxApi() as proxy:
        assert fake.ca_file is not None
        env = {"SSL_CERT_FILE": fake.ca_file}
        settings = ClaimxSettings(api_url=fake.url, api_token=fake.token)
        with ClaimxApi.from_settings(settings, None, env=env) as client:
            assert client.project(PROJECT)["companyName"] == "Northwind Mutual"
        settings = ClaimxSettings(api_url=UNREACHABLE, api_token=proxy.token)
        with ClaimxApi.from_settings(settings, None, env={"http_proxy": proxy.origin}) as client:
            assert client.project(PROJECT)["companyName"] == "Northwind Mutual"
        assert proxy.requests[-1].proxied_to == "claimx.invalid"


def test_ca_bundle_setting_wins_over_the_fallbacks(tmp_path: Path) -> None:
    with FakeClaimxApi(tls=True) as fake:
        assert fake.ca_file is not None
        settings = ClaimxSettings(api_url=fake.url, api_token=fake.token)
        env = {"SSL_CERT_FILE": str(tmp_path / "missing.pem")}
        with ClaimxApi.from_settings(settings, Path(fake.ca_file), env=env) as client:
            assert client.project(PROJECT)["companyName"] == "Northwind Mutual"
