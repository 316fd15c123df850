"""A local managed-identity token endpoint, so worker processes can authenticate with the real
azure-identity code against loopback stand-ins (the DFS stand-in in TLS mode).

azure-identity's `ManagedIdentityCredential` asks `IDENTITY_ENDPOINT` for a token, with the
secret of `IDENTITY_HEADER` in `X-IDENTITY-HEADER` (the App Service protocol). This server
answers that request with a short-lived bearer token; `env` is what a worker needs:
`AZURE_AUTH_METHOD=managed-identity` plus the two variables.

    with LocalManagedIdentity() as identity:
        env = {**identity.env, "CA_BUNDLE": dfs.ca_file, ...}
"""

from __future__ import annotations

import json
import secrets
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from vpipe_testing.http_server import LoopbackHTTPServer

TOKEN_PATH = "/msi/token"


class LocalManagedIdentity:
    def __init__(self, lifetime_s: int = 3600) -> None:
        self.lifetime_s = lifetime_s
        self.secret = secrets.token_hex(16)
        self.issued: list[str] = []  # resources a token was issued for, in order
        self.refused = 0  # requests without the right header
        self._server = LoopbackHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.identity = self  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{TOKEN_PATH}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "AZURE_AUTH_METHOD": "managed-identity",
            "IDENTITY_ENDPOINT": self.url,
            "IDENTITY_HEADER": self.secret,
        }

    def start(self) -> LocalManagedIdentity:
        self._server.serve_in_background("local-identity")
        return self

    def stop(self) -> None:
        self._server.stop_serving()

    def __enter__(self) -> LocalManagedIdentity:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def answer(self, path: str, header: str | None) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        resource = dict(parse_qsl(parts.query)).get("resource", "")
        if parts.path != TOKEN_PATH or header != self.secret or not resource:
            self.refused += 1
            return 400, {"error": "invalid_request", "error_description": "bad token request"}
        self.issued.append(resource)
        token = f"vpipe-local-{secrets.token_hex(8)}"
        expires_on = int(time.time()) + self.lifetime_s
        return 200, {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        identity: LocalManagedIdentity = self.server.identity  # type: ignore[attr-defined]
        status, payload = identity.answer(self.path, self.headers.get("X-IDENTITY-HEADER"))
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return
