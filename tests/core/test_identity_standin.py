"""The local managed-identity endpoint works with the real azure-identity credential."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from vpipe_core.azure_auth import AzureCredential, load_auth_settings
from vpipe_testing.identity import LocalManagedIdentity


def test_the_worker_credential_gets_tokens_from_it(monkeypatch):
    with LocalManagedIdentity(lifetime_s=600) as identity:
        for name, value in identity.env.items():
            monkeypatch.setenv(name, value)
        credential = AzureCredential(load_auth_settings(identity.env))
        token = credential.get_token("https://storage.azure.com/.default")
        assert token.token.startswith("vpipe-local-")
        assert 500 < token.expires_on - time.time() <= 600
        assert identity.issued == ["https://storage.azure.com"]


def test_a_request_without_the_identity_header_is_refused():
    with LocalManagedIdentity() as identity:
        url = f"{identity.url}?resource=https://storage.azure.com&api-version=2019-08-01"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)
        assert refused.value.code == 400
        assert json.loads(refused.value.read())["error"] == "invalid_request"
        assert identity.refused == 1 and identity.issued == []
