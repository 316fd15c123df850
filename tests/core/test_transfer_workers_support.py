"""The parts around the transfer workers: cache cleaner, proxy and CA settings (with a real
forwarding proxy in front of the file server and the DFS stand-in)."""

from __future__ import annotations

import fcntl
import http.client
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from vpipe_core.storage import make_store
from vpipe_core.transfer.cleaner import CacheCleaner
from vpipe_core.transfer.download import Downloader
from vpipe_core.transfer.netconf import ProxyConfig, bypasses_proxy, ca_bundle
from vpipe_core.transfer.policy import UrlPolicy
from vpipe_core.transfer.rules import TypeRules
from vpipe_testing.dfs import LocalDfs
from vpipe_testing.http_files import FileServer, Route

LOCAL = frozenset({"127.0.0.1"})  # allowed, and plain http (the local servers)

DAY = 24 * 3600.0
NOW = 1_800_000_000.0
PDF = b"%PDF-1.7\n" + b"x" * 5000

# -- cache cleaner ---------------------------------------------------------------------------


def aged(path: Path, age_s: float, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    os.utime(path, (NOW - age_s, NOW - age_s))
    return path


def test_cleaner_removes_only_stale_files_of_its_domain(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    stale = aged(cache / "xact" / "m1" / "old.pdf", 2 * DAY)
    fresh = aged(cache / "xact" / "m2" / "new.pdf", 60)
    other_domain = aged(cache / "claimx" / "9" / "old.jpg", 2 * DAY)
    aged(cache / "xact" / "m1", 2 * DAY)  # the directory, once emptied, is stale too
    cleaner = CacheCleaner(cache, "xact", DAY, clock=lambda: NOW)
    report = cleaner.clean()
    assert not stale.exists() and not stale.parent.exists()
    assert fresh.exists() and other_domain.exists()
    assert (report.files, report.directories) == (1, 1)
    assert (cache / "xact").is_dir()


def test_cleaner_leaves_partial_downloads_in_progress(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    abandoned = aged(cache / "tmp" / "m1.part", 2 * DAY)
    in_progress = aged(cache / "tmp" / "m2.part", 2 * DAY)
    with open(in_progress, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as a running download holds it
        report = CacheCleaner(cache, "xact", DAY, clock=lambda: NOW).clean()
    assert not abandoned.exists() and in_progress.exists()
    assert report.parts == 1


def test_cleaner_runs_on_its_interval_and_stops(tmp_path: Path) -> None:
    stale = aged(tmp_path / "cache" / "xact" / "m1" / "old.pdf", 2 * DAY)
    passes = threading.Event()
    cleaner = CacheCleaner(tmp_path / "cache", "xact", DAY, clock=lambda: NOW)
    original = cleaner.clean

    def clean() -> object:
        report = original()
        passes.set()
        return report

    cleaner.clean = clean  # type: ignore[method-assign]
    cleaner.start(interval_s=0.01)
    assert passes.wait(10)
    cleaner.stop()
    assert not stale.exists()


def test_a_download_publishes_into_a_directory_the_cleaner_just_removed(tmp_path: Path) -> None:
    with FileServer() as server:
        server.add("/a.pdf", Route(body=PDF, content_type="application/pdf"))
        policy = UrlPolicy(LOCAL, LOCAL, allowed_ports=frozenset({server.port}))
        downloader = Downloader(policy, TypeRules(), tmp_path)
        real_replace = os.replace
        calls = []

        def replace_after_cleaning(src: str, dst: str) -> None:
            calls.append(dst)
            if len(calls) == 1:  # the cleaner wins the race once
                Path(dst).parent.rmdir()
            real_replace(src, dst)

        os.replace = replace_after_cleaning  # type: ignore[assignment]
        try:
            result = downloader.download(server.url("/a.pdf"), "m1", "xact/m1/a.pdf")
        finally:
            os.replace = real_replace  # type: ignore[assignment]
            downloader.close()
    assert result.path.read_bytes() == PDF and len(calls) == 2


# -- proxy and CA settings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypass"),
    [
        ("onelake.dfs.fabric.microsoft.com", None, ".fabric.microsoft.com", True),
        ("onelake.dfs.fabric.microsoft.com", None, "fabric.microsoft.com", True),
        ("notfabric.microsoft.com", None, "fabric.microsoft.com", False),
        ("127.0.0.1", 8080, "127.0.0.1", True),
        ("127.0.0.1", 8080, "127.0.0.1:9000", False),
        ("10.1.2.3", None, "10.0.0.0/8", True),
        ("s3.amazonaws.com", None, "*", True),
        ("s3.amazonaws.com", None, "", False),
    ],
)
def test_no_proxy_rules(host: str, port: int | None, no_proxy: str, bypass: bool) -> None:
    assert bypasses_proxy(host, port, no_proxy) is bypass


def test_proxy_config_from_the_effective_environment() -> None:
    config = ProxyConfig.from_env(
        {"https_proxy": "http://proxy:3128", "HTTP_PROXY": "http://p2:80", "NO_PROXY": "local"}
    )
    assert config.proxy_for("https://a.example/x") == "http://proxy:3128"
    assert config.proxy_for("http://a.example/x") == "http://p2:80"
    assert config.proxy_for("https://local/x") is None
    assert config.requests_proxies("https://a.example") == {
        "http": "http://proxy:3128",
        "https": "http://proxy:3128",
    }
    assert ProxyConfig.from_env({}).proxy_for("https://a.example/x") is None


def test_ca_bundle_fallbacks(tmp_path: Path) -> None:
    assert ca_bundle(tmp_path / "ca.pem", {"SSL_CERT_FILE": "/x"}) == str(tmp_path / "ca.pem")
    assert ca_bundle(None, {"REQUESTS_CA_BUNDLE": "/r", "CURL_CA_BUNDLE": "/c"}) == "/r"
    assert ca_bundle(None, {"SSL_CERT_FILE": " "}) is None


class ForwardingProxy:
    """A plain-http forward proxy: requests arrive in absolute form and are relayed as they are;
    `seen` lists the URLs it relayed."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.authorizations: list[str | None] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                proxy.seen.append(self.path)
                proxy.authorizations.append(self.headers.get("Proxy-Authorization"))
                target = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                path = target.path + (f"?{target.query}" if target.query else "")
                hop_by_hop = ("proxy-connection", "proxy-authorization")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in hop_by_hop}
                upstream.request(self.command, path, body or None, headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_PATCH = do_HEAD = do_DELETE = _relay

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ForwardingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def proxy() -> Iterator[ForwardingProxy]:
    with ForwardingProxy() as forwarding:
        yield forwarding


def test_downloads_go_through_the_proxy_unless_no_proxy_says_otherwise(
    tmp_path: Path, proxy: ForwardingProxy
) -> None:
    with FileServer() as server:
        server.add("/a.pdf", Route(body=PDF, content_type="application/pdf"))
        policy = UrlPolicy(LOCAL, LOCAL, allowed_ports=frozenset({server.port}))
        for no_proxy, via_proxy in (("", 1), ("127.0.0.1", 0)):
            config = ProxyConfig(http=proxy.url, no_proxy=no_proxy)
            with Downloader(policy, TypeRules(), tmp_path / no_proxy, proxy=config) as downloader:
                result = downloader.download(server.url("/a.pdf"), "m1", "x/m1/a.pdf")
            assert result.path.read_bytes() == PDF
            assert len(proxy.seen) == via_proxy
            proxy.seen.clear()
    assert len(server.requests) == 2


def test_proxy_credentials_and_a_proxy_without_scheme(
    tmp_path: Path, proxy: ForwardingProxy
) -> None:
    import base64

    address = proxy.url.removeprefix("http://")
    with FileServer() as server:
        server.add("/a.pdf", Route(body=PDF, content_type="application/pdf"))
        policy = UrlPolicy(LOCAL, LOCAL, allowed_ports=frozenset({server.port}))
        for name, proxy_url in (("auth", f"http://user:p%40ss@{address}"), ("bare", address)):
            config = ProxyConfig(http=proxy_url)
            with Downloader(policy, TypeRules(), tmp_path / name, proxy=config) as downloader:
                downloader.download(server.url("/a.pdf"), "m1", "x/m1/a.pdf")
    expected = "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert proxy.authorizations == [expected, None]


def test_onelake_uploads_go_through_the_proxy(tmp_path: Path, proxy: ForwardingProxy) -> None:
    source = tmp_path / "a.pdf"
    source.write_bytes(PDF)
    with LocalDfs(tmp_path / "dfs", filesystems=["ws"]) as dfs:
        destination, account_url = dfs.url("ws", "Files/xact"), dfs.account_url
        proxies = ProxyConfig(http=proxy.url).requests_proxies(destination)
        store = make_store(
            destination, dfs.credential, 10, 2, proxies=proxies, path_style_hosts=dfs.hosts
        )
        with store:  # type: ignore[attr-defined]
            store.upload(source, "T1/a.pdf")
        assert dfs.local_path("ws", "Files/xact/T1/a.pdf").read_bytes() == PDF
    assert proxy.seen and all(url.startswith(account_url) for url in proxy.seen)
