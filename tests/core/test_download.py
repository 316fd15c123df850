"""vpipe_core.transfer: URL policy, pre-flight checks, streaming, ranged resume, classification.

A local file server (vpipe_testing.http_files) misbehaves on request and logs every
request, so "refused before any request" is asserted on what reached it. Presigned URLs come
from moto. Sizes, chunks and stalls are tiny to keep the run short.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from vpipe_core.outcome import Category
from vpipe_core.transfer.download import INFRASTRUCTURE, Downloader, DownloadError
from vpipe_core.transfer.policy import UrlPolicy, UrlRejected, is_public
from vpipe_core.transfer.presigned import is_expired, presigned_expiry
from vpipe_core.transfer.rules import ExtensionRejected, RulesFileError, TypeRules
from vpipe_testing.http_files import FileServer, Route

KIB = 1024
MIB = 1024 * 1024
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40
MakeDownloader = Callable[..., Downloader]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mapped_resolver(table: dict[str, list[str]]) -> Callable[[str], Sequence[str]]:
    def resolve(host: str) -> list[str]:
        if host not in table:
            raise socket.gaierror(f"unknown host {host}")
        return table[host]

    return resolve


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer() as files:
        yield files


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def make_downloader(cache_dir: Path, server: FileServer) -> Iterator[MakeDownloader]:
    """Downloaders allowed to reach the file server's port (and 443) unless `ports` says."""
    made: list[Downloader] = []

    def make(
        allowed: Sequence[str] = ("127.0.0.1", "localhost"),
        *,
        local: Sequence[str] = ("127.0.0.1", "localhost"),
        ports: Sequence[int] = (443, server.port),
        resolver: Callable[[str], Sequence[str]] | None = None,
        rules: TypeRules | None = None,
        **options: Any,
    ) -> Downloader:
        policy = UrlPolicy(
            frozenset(allowed), frozenset(local), allowed_ports=frozenset(ports), resolver=resolver
        )
        options.setdefault("connect_timeout_s", 2.0)
        options.setdefault("stall_timeout_s", 2.0)
        options.setdefault("max_connections", 4)
        downloader = Downloader(policy, rules or TypeRules(), cache_dir, **options)
        made.append(downloader)
        return downloader

    yield make
    for downloader in made:
        downloader.close()


def fail(downloader: Downloader, url: str, dest: str = "d/m1/file.pdf") -> DownloadError:
    with pytest.raises(DownloadError) as caught:
        downloader.download(url, "m1", dest)
    return caught.value


def assert_nothing_left(cache_dir: Path) -> None:
    """No partial file and nothing published."""
    leftovers = [p for p in cache_dir.rglob("*") if p.is_file()] if cache_dir.exists() else []
    assert leftovers == []


# --- transfer -----------------------------------------------------------------------------


def test_happy_path_streams_hashes_and_renames(
    server: FileServer, make_downloader: MakeDownloader, cache_dir: Path
) -> None:
    server.add("/files/report.pdf", Route(PDF, "application/pdf; charset=binary"))
    result = make_downloader().download(server.url("/files/report.pdf"), "m1", "d/m1/report.pdf")
    assert result.path == cache_dir / "d" / "m1" / "report.pdf"
    assert result.path.read_bytes() == PDF
    assert (result.bytes, result.sha256) == (len(PDF), sha256(PDF))
    assert result.content_type == "application/pdf; charset=binary"
    assert list((cache_dir / "tmp").iterdir()) == []
    headers = server.requests[0].headers
    assert "Range" not in headers and headers["Accept-Encoding"] == "identity"
    assert "Authorization" not in headers


def test_body_without_content_length_is_accepted(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    server.add("/a.txt", Route(b"hello", "text/plain", send_length=False))
    assert make_downloader().download(server.url("/a.txt"), "m1", "x/a.txt").bytes == 5


@pytest.mark.parametrize("send_length", [True, False], ids=["content-length", "endless-body"])
def test_a_file_over_download_max_mb_fails_for_good_unkept(
    server: FileServer, make_downloader: MakeDownloader, cache_dir: Path, send_length: bool
) -> None:
    """Issue 17 item 10: checked against Content-Length before reading, and against the bytes
    received when there is none."""
    server.add("/a.pdf", Route(PDF, "application/pdf", send_length=send_length))
    error = fail(make_downloader(max_mb=4 / 1024), server.url("/a.pdf"))
    assert error.category == Category.PERMANENT and "DOWNLOAD_MAX_MB" in error.reason
    assert ("Content-Length" in error.reason) is send_length
    assert_nothing_left(cache_dir)


def test_a_file_of_exactly_download_max_mb_is_accepted(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    body = PDF[:4096]
    server.add("/a.pdf", Route(body, "application/pdf", send_length=False))
    downloader = make_downloader(max_mb=4 / 1024)
    assert downloader.download(server.url("/a.pdf"), "m1", "x/a.pdf").bytes == 4096


def test_body_paced_like_a_network_link_arrives_whole(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB, sent in paced slices
    server.add("/paced.pdf", Route(body, "application/pdf", rate_bytes_s=64 * 2**20))
    result = make_downloader().download(server.url("/paced.pdf"), "m1", "x/paced.pdf")
    assert (result.bytes, result.sha256) == (len(body), sha256(body))


def test_redirect_chain_is_checked_per_hop(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    server.add("/r1", Route(redirect_to=server.url("/r2", host="localhost")))
    server.add("/r2", Route(redirect_to="/r3?x=1", status=307))  # relative Location
    server.add("/r3", Route(redirect_to=server.url("/final.pdf"), status=301))
    server.add("/final.pdf", Route(PDF, "application/pdf"))
    result = make_downloader().download(server.url("/r1?name=a.pdf"), "m1", "d/a.pdf")
    assert result.sha256 == sha256(PDF)
    assert server.paths() == ["/r1?name=a.pdf", "/r2", "/r3?x=1", "/final.pdf"]
    assert server.requests[1].headers["Host"] == f"localhost:{server.port}"


def test_redirect_to_a_host_off_the_allow_list_is_never_followed(
    server: FileServer, make_downloader: MakeDownloader, cache_dir: Path
) -> None:
    server.add("/go.pdf", Route(redirect_to=server.url("/evil.pdf", host="127.0.0.1")))
    server.add("/evil.pdf", Route(PDF, "application/pdf"))
    error = fail(make_downloader(allowed=["localhost"]), server.url("/go.pdf", host="localhost"))
    assert error.category == Category.PERMANENT
    assert "non-public address 127.0.0.1" in error.reason
    assert server.paths() == ["/go.pdf"]
    assert_nothing_left(cache_dir)


def _redirect_chain(server: FileServer, redirects: int) -> str:
    for number in range(redirects):
        server.add(f"/hop{number}", Route(redirect_to=f"/hop{number + 1}"))
    server.add(f"/hop{redirects}", Route(PDF, "application/pdf"))
    return server.url("/hop0?filename=doc.pdf")


def test_five_redirects_are_followed(server: FileServer, make_downloader: MakeDownloader) -> None:
    result = make_downloader().download(_redirect_chain(server, 5), "m1", "d/doc.pdf")
    assert result.sha256 == sha256(PDF)
    assert len(server.requests) == 6


def test_a_sixth_redirect_is_refused(server: FileServer, make_downloader: MakeDownloader) -> None:
    error = fail(make_downloader(), _redirect_chain(server, 6))
    assert error.category == Category.PERMANENT
    assert "more than 5 redirects" in error.reason
    assert len(server.requests) == 6  # the sixth Location is never requested


def test_redirect_without_location_is_auth(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    server.add("/a.pdf", Route(status=302))
    error = fail(make_downloader(), server.url("/a.pdf"))
    assert (error.category, error.http_status) == (Category.AUTH, 302)


# --- refused before any request -----------------------------------------------------------


def test_private_ip_literal_is_refused_without_a_request(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    server.add("/a.pdf", Route(PDF, "application/pdf"))
    downloader = make_downloader(allowed=["localhost"])
    for url in (server.url("/a.pdf"), "https://10.1.2.3/a.pdf", "https://[::1]/a.pdf"):
        error = fail(downloader, url)
        assert error.category == Category.PERMANENT
        assert "non-public address" in error.reason
    assert server.requests == []


def test_host_off_the_allow_list_is_refused_without_a_request(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    server.add("/a.pdf", Route(PDF, "application/pdf"))
    error = fail(make_downloader(allowed=["files.example.com"]), server.url("/a.pdf", "localhost"))
    assert error.category == Category.PERMANENT
    assert "host localhost is not allowed" in error.reason
    assert server.requests == []


def test_allowed_name_resolving_to_loopback_is_refused_without_a_request(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    server.add("/a.pdf", Route(PDF, "application/pdf"))
    resolver = mapped_resolver({"files.test": ["127.0.0.1"]})
    refused = make_downloader(allowed=["files.test"], local=[], resolver=resolver)
    error = fail(refused, server.url("/a.pdf", host="files.test", scheme="https"))
    assert error.category == Category.PERMANENT
    assert "files.test resolves to a non-public address 127.0.0.1" in error.reason
    assert server.requests == []
    # The same name allow-listed as local reaches the server through the checked address.
    local = make_downloader(allowed=["files.test"], local=["files.test"], resolver=resolver)
    assert local.download(server.url("/a.pdf", host="files.test"), "m1", "d/a.pdf").bytes
    assert server.requests[0].headers["Host"] == f"files.test:{server.port}"


def test_name_rebinding_to_loopback_after_the_check_never_connects(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    """The connection resolves through the same guard, so a second answer is checked too."""
    answers = iter([["8.8.8.8"], ["127.0.0.1"]])
    downloader = make_downloader(
        allowed=["files.test"], local=[], resolver=lambda host: next(answers)
    )
    server.add("/a.pdf", Route(PDF, "application/pdf"))
    error = fail(downloader, server.url("/a.pdf", host="files.test", scheme="https"))
    assert error.category == Category.PERMANENT
    assert "resolves to a non-public address 127.0.0.1" in error.reason
    assert server.requests == []


def test_dns_failure_is_transient(make_downloader: MakeDownloader) -> None:
    downloader = make_downloader(allowed=["files.test"], resolver=mapped_resolver({}))
    error = fail(downloader, "https://files.test/a.pdf")
    assert error.category == Category.TRANSIENT


def test_extension_not_allowed_is_refused_without_a_request(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    server.add("/setup.exe", Route(b"MZ", "application/octet-stream"))
    server.add("/noext", Route(b"x"))
    for path in ("/setup.exe", "/noext", "/noext?filename=run.exe"):
        error = fail(make_downloader(), server.url(path))
        assert error.category == Category.PERMANENT
    assert server.requests == []


@pytest.mark.parametrize(
    "dest", ["../escape.pdf", "/abs/a.pdf", "a/../../b.pdf", "tmp/a.pdf", "", ".", "a/.", "a/"]
)
def test_unsafe_destination_is_refused_without_a_request(
    server: FileServer, make_downloader: MakeDownloader, dest: str
) -> None:
    server.add("/a.pdf", Route(PDF, "application/pdf"))
    error = fail(make_downloader(), server.url("/a.pdf"), dest)
    assert error.category == Category.PERMANENT
    assert server.requests == []


# --- presigned URLs from moto -------------------------------------------------------------


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[Any, str, int]]:
    pytest.importorskip("boto3")
    from vpipe_testing.s3 import LocalS3

    with LocalS3("claims") as local:
        yield local.client, local.host, local.port


def test_download_through_a_real_presigned_url(
    s3: tuple[Any, str, int], make_downloader: MakeDownloader
) -> None:
    client, host, port = s3
    client.put_object(
        Bucket="claims", Key="a/estimate.pdf", Body=PDF, ContentType="application/pdf"
    )
    params = {"Bucket": "claims", "Key": "a/estimate.pdf"}
    url = client.generate_presigned_url("get_object", Params=params, ExpiresIn=3600)
    assert presigned_expiry(url) is not None
    result = make_downloader(allowed=[host], ports=[port]).download(
        url, "m1", "xact/m1/estimate.pdf"
    )
    assert (result.sha256, result.content_type) == (sha256(PDF), "application/pdf")


def test_expired_presigned_url_is_refused_before_any_request(
    s3: tuple[Any, str, int], make_downloader: MakeDownloader, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, host, port = s3
    client.put_object(Bucket="claims", Key="b.pdf", Body=PDF, ContentType="application/pdf")
    # 30 s of validity is inside the 60 s safety margin: expired already.
    params = {"Bucket": "claims", "Key": "b.pdf"}
    url = client.generate_presigned_url("get_object", Params=params, ExpiresIn=30)
    downloader = make_downloader(allowed=[host], ports=[port])
    requests: list[str] = []
    monkeypatch.setattr(downloader._pool, "urlopen", lambda *a, **k: requests.append(a[1]))
    error = fail(downloader, url)
    assert error.category == Category.PERMANENT and "expired" in error.reason
    assert error.refreshable and error.http_status is None
    assert requests == []


def test_refresh_hook_replaces_an_expired_link(
    s3: tuple[Any, str, int], make_downloader: MakeDownloader
) -> None:
    client, host, port = s3
    client.put_object(Bucket="claims", Key="c.pdf", Body=PDF, ContentType="application/pdf")
    params = {"Bucket": "claims", "Key": "c.pdf"}
    stale = client.generate_presigned_url("get_object", Params=params, ExpiresIn=1)
    asked: list[str] = []

    def refresh(url: str, error: DownloadError) -> str:
        asked.append(error.reason)
        return str(client.generate_presigned_url("get_object", Params=params, ExpiresIn=600))

    result = make_downloader(allowed=[host], ports=[port]).download(
        stale, "m1", "c/c.pdf", refresh=refresh
    )
    assert (result.sha256, result.refreshes) == (sha256(PDF), 1)
    assert len(asked) == 1 and "expired" in asked[0]


def test_refresh_stops_after_max_refreshes(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    server.add("/a.pdf", Route(status=403))
    calls: list[str] = []

    def refresh(url: str, error: DownloadError) -> str:
        calls.append(url)
        return url

    with pytest.raises(DownloadError) as caught:
        make_downloader().download(server.url("/a.pdf"), "m1", "a.pdf", refresh=refresh)
    assert (caught.value.category, caught.value.http_status) == (Category.PERMANENT, 403)
    assert (len(calls), caught.value.refreshes, len(server.requests)) == (2, 2, 3)


# --- content type, status classification --------------------------------------------------


def test_content_type_mismatch_is_transient(
    server: FileServer, make_downloader: MakeDownloader, cache_dir: Path
) -> None:
    server.add("/a.pdf", Route(b"<html>AccessDenied</html>", "text/html; charset=utf-8"))
    error = fail(make_downloader(), server.url("/a.pdf"))
    assert error.category == Category.TRANSIENT
    assert "text/html" in error.reason
    assert_nothing_left(cache_dir)


def test_octet_stream_esx_and_missing_content_type_are_accepted(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    server.add("/claim.ESX", Route(b"PK\x03\x04", "binary/octet-stream"))
    server.add("/notes.txt", Route(b"notes", None))
    downloader = make_downloader()
    assert downloader.download(server.url("/claim.ESX"), "m1", "a/claim.esx").bytes == 4
    assert downloader.download(server.url("/notes.txt"), "m2", "a/notes.txt").bytes == 5


@pytest.mark.parametrize(
    ("status", "headers", "category", "retry_after"),
    [
        (404, {}, Category.PERMANENT, None),
        (410, {}, Category.PERMANENT, None),
        (403, {}, Category.PERMANENT, None),
        (401, {}, Category.AUTH, None),
        (500, {}, Category.TRANSIENT, None),
        (503, {"Retry-After": "12"}, Category.TRANSIENT, 12.0),
        (429, {"Retry-After": "7"}, Category.TRANSIENT, 7.0),
        (408, {}, Category.TRANSIENT, None),
    ],
)
def test_http_status_classification(
    server: FileServer,
    make_downloader: MakeDownloader,
    status: int,
    headers: dict[str, str],
    category: Category,
    retry_after: float | None,
) -> None:
    server.add("/a.pdf", Route(status=status, headers=headers))
    error = fail(make_downloader(), server.url("/a.pdf"))
    assert (error.category, error.http_status, error.retry_after_s) == (
        category,
        status,
        retry_after,
    )


def test_retry_after_as_http_date(server: FileServer, make_downloader: MakeDownloader) -> None:
    server.add(
        "/a.pdf", Route(status=429, headers={"Retry-After": "Thu, 05 Feb 2026 00:01:30 GMT"})
    )
    clock = lambda: datetime(2026, 2, 5, tzinfo=UTC)  # noqa: E731
    error = fail(make_downloader(clock=clock), server.url("/a.pdf"))
    assert error.retry_after_s == 90.0


def test_connection_refused_is_transient_and_redacted(make_downloader: MakeDownloader) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a.pdf?X-Amz-Signature=SECRETSIG&sig=OTHERSECRET"
    error = fail(make_downloader(ports=[port]), url)
    assert error.category == Category.TRANSIENT
    assert "SECRETSIG" not in str(error) and "OTHERSECRET" not in str(error)


# --- stalls, truncation, resume -----------------------------------------------------------


def test_stall_longer_than_the_stall_timeout_is_transient(
    server: FileServer, make_downloader: MakeDownloader, cache_dir: Path
) -> None:
    server.add("/a.pdf", Route(PDF, "application/pdf", stalls=[(1000, 1.0)]))
    error = fail(make_downloader(stall_timeout_s=0.3), server.url("/a.pdf"))
    assert error.category == Category.TRANSIENT
    assert "stalled" in error.reason
    assert_nothing_left(cache_dir)


def test_short_stalls_adding_up_past_the_stall_timeout_succeed(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    """No total deadline: three pauses of 0.25 s each under a 0.5 s stall timeout."""
    stalls = [(1000, 0.25), (3000, 0.25), (6000, 0.25)]
    server.add("/a.pdf", Route(PDF, "application/pdf", stalls=stalls))
    result = make_downloader(stall_timeout_s=0.5).download(server.url("/a.pdf"), "m1", "a.pdf")
    assert result.sha256 == sha256(PDF)


def test_empty_body_is_transient(
    server: FileServer, make_downloader: MakeDownloader, cache_dir: Path
) -> None:
    server.add("/a.pdf", Route(b"", "application/pdf"))
    error = fail(make_downloader(), server.url("/a.pdf"))
    assert error.category == Category.TRANSIENT and "empty" in error.reason
    assert_nothing_left(cache_dir)


def test_truncated_body_is_transient(
    server: FileServer, make_downloader: MakeDownloader, cache_dir: Path
) -> None:
    server.add("/a.pdf", Route(PDF, "application/pdf", advertised_length=len(PDF) + 500))
    error = fail(make_downloader(), server.url("/a.pdf"))
    assert error.category == Category.TRANSIENT
    assert_nothing_left(cache_dir)


def test_dropped_connection_on_a_small_file_is_transient(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    server.add("/a.pdf", Route(PDF, "application/pdf", drop_after=2000))
    assert fail(make_downloader(), server.url("/a.pdf")).category == Category.TRANSIENT


LARGE = os.urandom(300 * KIB + 123)
RANGED = {"range_threshold_mb": 256 / 1024, "range_chunk_mb": 64 / 1024}  # 256 KiB, 64 KiB


def _ranges(server: FileServer) -> list[str]:
    return [request.headers.get("Range", "-") for request in server.requests]


def test_large_file_is_fetched_in_ranges(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    server.add("/walkthrough.mp4", Route(LARGE, "video/mp4"))
    downloader = make_downloader(**RANGED)
    result = downloader.download(server.url("/walkthrough.mp4"), "m1", "v/walkthrough.mp4")
    assert (result.bytes, result.sha256) == (len(LARGE), sha256(LARGE))
    chunk = 64 * KIB
    expected = [
        f"bytes={start}-{min(start + chunk, len(LARGE)) - 1}"
        for start in range(chunk, len(LARGE), chunk)
    ]
    assert _ranges(server) == ["-", *expected]


def test_dropped_connection_on_a_large_file_resumes_and_the_checksum_matches(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    route = Route(LARGE, "video/mp4", drop_after=10_000, drop_times=2)
    server.add("/walkthrough.mp4", route)
    result = make_downloader(**RANGED).download(
        server.url("/walkthrough.mp4"), "m1", "v/walkthrough.mp4"
    )
    assert result.sha256 == sha256(LARGE)
    assert result.path.read_bytes() == LARGE
    # The first (unranged) reply and the next try broke after 10 000 bytes each; every retry
    # asked for the rest of chunk 0 from the bytes already on disk (3 tries for the chunk).
    ranges = _ranges(server)
    assert ranges[:4] == ["-", "bytes=10000-65535", "bytes=20000-65535", "bytes=65536-131071"]
    assert len(ranges) == 1 + 2 + 4


def test_a_chunk_failing_three_times_is_transient(
    server: FileServer, make_downloader: MakeDownloader, cache_dir: Path
) -> None:
    server.add("/a.mov", Route(LARGE, "video/quicktime", drop_after=1000, drop_times=99))
    error = fail(make_downloader(**RANGED), server.url("/a.mov"), "v/a.mov")
    assert error.category == Category.TRANSIENT and "3 tries" in error.reason
    assert len(server.requests) == 3
    assert_nothing_left(cache_dir)


def test_stall_on_a_large_file_resumes(server: FileServer, make_downloader: MakeDownloader) -> None:
    server.add("/a.mp4", Route(LARGE, "video/mp4", stalls=[(30_000, 1.0)], stall_times=1))
    downloader = make_downloader(stall_timeout_s=0.3, **RANGED)
    assert downloader.download(server.url("/a.mp4"), "m1", "v/a.mp4").sha256 == sha256(LARGE)
    assert _ranges(server)[:2] == ["-", "bytes=30000-65535"]  # the bytes before the stall kept


def test_server_ignoring_ranges_restarts_from_zero(
    server: FileServer, make_downloader: MakeDownloader
) -> None:
    server.add("/a.mp4", Route(LARGE, "video/mp4", ranges=False))
    result = make_downloader(**RANGED).download(server.url("/a.mp4"), "m1", "v/a.mp4")
    assert (result.bytes, result.sha256) == (len(LARGE), sha256(LARGE))
    assert _ranges(server) == ["-", f"bytes={64 * KIB}-{128 * KIB - 1}"]


# --- local disk errors --------------------------------------------------------------------


def test_cache_dir_not_writable_is_infrastructure(
    server: FileServer, make_downloader: MakeDownloader, cache_dir: Path
) -> None:
    server.add("/a.pdf", Route(PDF, "application/pdf"))
    cache_dir.mkdir()
    (cache_dir / "tmp").write_text("a file where the tmp directory should be")
    error = fail(make_downloader(), server.url("/a.pdf"))
    assert error.category == INFRASTRUCTURE
    assert "local disk error" in error.reason
    assert server.requests == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_read_only_cache_dir_is_infrastructure(
    server: FileServer, make_downloader: MakeDownloader, cache_dir: Path
) -> None:
    server.add("/a.pdf", Route(PDF, "application/pdf"))
    cache_dir.mkdir()
    cache_dir.chmod(0o500)
    try:
        error = fail(make_downloader(), server.url("/a.pdf"))
    finally:
        cache_dir.chmod(0o700)
    assert error.category == INFRASTRUCTURE


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_while_streaming_is_infrastructure(
    server: FileServer, make_downloader: MakeDownloader, cache_dir: Path
) -> None:
    server.add("/a.pdf", Route(PDF, "application/pdf"))
    (cache_dir / "tmp").mkdir(parents=True)
    (cache_dir / "tmp" / "m1.part").symlink_to("/dev/full")
    error = fail(make_downloader(), server.url("/a.pdf"))
    assert error.category == INFRASTRUCTURE
    assert "ENOSPC" in error.reason


def test_concurrent_download_of_the_same_media_is_refused(
    server: FileServer, make_downloader: MakeDownloader, cache_dir: Path
) -> None:
    server.add("/a.pdf", Route(PDF, "application/pdf"))
    part = cache_dir / "tmp" / "m1.part"
    part.parent.mkdir(parents=True)
    with part.open("wb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        error = fail(make_downloader(), server.url("/a.pdf"))
    assert error.category == Category.TRANSIENT and "already" in error.reason
    assert part.exists()  # the other download's file is left alone


# --- units: policy, presigned, rules ------------------------------------------------------


def test_policy_rules() -> None:
    policy = UrlPolicy(
        frozenset({"files.example.com", "10.0.0.5"}),
        resolver=mapped_resolver({"files.example.com": ["93.184.216.34"]}),
    )
    assert policy.check("https://FILES.example.com/a.pdf?x=1").host == "files.example.com"
    assert policy.check("https://10.0.0.5/a.pdf").host == "10.0.0.5"  # explicitly listed
    refused = {
        "http://files.example.com/a.pdf": "scheme http",
        "ftp://files.example.com/a.pdf": "scheme ftp",
        "https://sub.files.example.com/a.pdf": "not allowed",
        "https://169.254.169.254/latest/meta-data": "non-public",
        "https://metadata.google.internal/x": "metadata host",
        "https://[::ffff:127.0.0.1]/a.pdf": "non-public",
        "https://user:pw@files.example.com/a.pdf": "credentials",
        "https://files.example.com:99999/a.pdf": "malformed",
        "/relative/a.pdf": "no host",
    }
    for url, reason in refused.items():
        with pytest.raises(UrlRejected, match=reason):
            policy.check(url)


def test_only_allowed_ports_are_accepted() -> None:
    resolver = mapped_resolver({"files.example.com": ["93.184.216.34"]})
    default = UrlPolicy(frozenset({"files.example.com"}), resolver=resolver)
    assert default.check("https://files.example.com/a.pdf").port is None
    assert default.check("https://files.example.com:443/a.pdf").port == 443
    for url in ("https://files.example.com:8443/a.pdf", "https://files.example.com:22/a.pdf"):
        with pytest.raises(UrlRejected, match="ALLOWED_ATTACHMENT_PORTS") as refused:
            default.check(url)
        assert "files.example.com" in refused.value.reason and "443" in refused.value.reason
    wider = UrlPolicy(
        frozenset({"files.example.com"}), allowed_ports=frozenset({8443}), resolver=resolver
    )
    assert wider.check("https://files.example.com:8443/a.pdf").port == 8443
    with pytest.raises(UrlRejected, match="port 443"):
        wider.check("https://files.example.com/a.pdf")  # 443 is implied by https


def test_allowed_ports_setting_reaches_the_policy() -> None:
    from vpipe_core.config.loader import load_settings
    from vpipe_core.transfer.policy import url_policy
    from vpipe_core.transfer.settings import TransferSettings

    assert load_settings(TransferSettings, {}).allowed_attachment_ports == (443,)
    env = {"ALLOWED_ATTACHMENT_DOMAINS": "files.example.com", "ALLOWED_ATTACHMENT_PORTS": "8443"}
    policy = url_policy(load_settings(TransferSettings, env))
    assert policy.check("https://files.example.com:8443/a.pdf", resolve=False).port == 8443
    with pytest.raises(UrlRejected, match="ALLOWED_ATTACHMENT_PORTS"):
        policy.check("https://files.example.com/a.pdf", resolve=False)


def test_public_address_classification() -> None:
    import ipaddress

    public = ["8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "::808:808"]
    private = "10.1.1.1 172.16.0.1 192.168.1.1 169.254.169.254 127.0.0.1 ::1 fe80::1 fc00::1"
    private += " 0.0.0.0 100.64.0.1 ::ffff:10.0.0.1 2002:a00:1:: 64:ff9b::a9fe:a9fe 224.0.0.1"
    # IPv4-compatible (::/96) and NAT64 forms of loopback, private and link-local addresses;
    # the local-use NAT64 prefix (RFC 8215) is not globally reachable whatever it embeds.
    private += " ::7f00:1 ::a00:1 ::a9fe:a9fe 64:ff9b::7f00:1 64:ff9b::c0a8:101"
    private += " 64:ff9b:1::7f00:1 64:ff9b:1::a00:1 64:ff9b:1:7f00:1:: 64:ff9b:1::808:808"
    assert all(is_public(ipaddress.ip_address(address)) for address in public)
    refused = [a for a in private.split() if is_public(ipaddress.ip_address(a))]
    assert refused == []


def test_a_name_resolving_to_an_embedded_loopback_is_refused() -> None:
    for address in ("::7f00:1", "64:ff9b:1::7f00:1"):
        resolver = mapped_resolver({"files.example.com": ["93.184.216.34", address]})
        policy = UrlPolicy(frozenset({"files.example.com"}), resolver=resolver)
        with pytest.raises(UrlRejected, match="non-public address"):
            policy.check("https://files.example.com/a.pdf")
        with pytest.raises(UrlRejected, match="non-public address"):
            policy.check(f"https://[{address}]/a.pdf")


def test_presigned_expiry() -> None:
    url = (
        "https://b.s3.amazonaws.com/k.pdf?x-amz-date=20260203T081500Z"
        "&X-AMZ-EXPIRES=604800&X-Amz-Signature=abc"
    )
    expiry = datetime(2026, 2, 10, 8, 15, tzinfo=UTC)
    assert presigned_expiry(url) == expiry
    assert not is_expired(url, datetime(2026, 2, 10, 8, 13, 59, tzinfo=UTC))
    assert is_expired(url, datetime(2026, 2, 10, 8, 14, tzinfo=UTC))  # 60 s margin
    assert is_expired(url, datetime(2026, 2, 10, 8, 14))  # naive = UTC
    sas = "https://a.blob.core.windows.net/c/f.pdf?sv=2022-11-02&se=2026-02-10T08:15:00Z&sig=x"
    assert presigned_expiry(sas) == expiry
    for unknown in ("https://h/a.pdf", "https://h/a.pdf?X-Amz-Date=bad&X-Amz-Expires=10"):
        assert presigned_expiry(unknown) is None and not is_expired(unknown, datetime.now(UTC))


def test_type_rules_defaults_and_extension_sources() -> None:
    rules = TypeRules()
    assert rules.check_extension("https://h/a/IMG_1.JPG?X-Amz-Date=1") == "jpg"
    assert rules.check_extension("https://h/cxfileservice/get/123?filename=walk.MOV") == "mov"
    assert rules.check_extension("https://h/get?file=a.docx") == "docx"
    for url in ("https://h/a.exe", "https://h/a", "https://h/a.exe?filename=b.pdf"):
        with pytest.raises(ExtensionRejected):
            rules.check_extension(url)
    assert rules.content_type_ok("pdf", "Application/PDF; charset=x")
    assert rules.content_type_ok("pdf", None) and rules.content_type_ok("pdf", "")
    assert not rules.content_type_ok("pdf", "text/html")
    assert rules.content_type_ok("xlsx", "application/octet-stream")
    assert rules.content_type_ok("csv", "text/plain")
    assert not rules.content_type_ok("jpg", "application/octet-stream")


def test_type_rules_file_overrides_named_extensions(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"jpg": ["image/jpeg", "octet"], "heic": ["image/heic"]}')
    rules = TypeRules.from_file(path)
    assert rules.content_type_ok("jpg", "binary/octet-stream")
    assert rules.check_extension("https://h/a.heic") == "heic"
    assert rules.content_type_ok("pdf", "application/pdf")
    assert not rules.content_type_ok("pdf", "image/heic")
    only = TypeRules.from_file(path, extensions=["pdf"])
    with pytest.raises(ExtensionRejected):
        only.check_extension("https://h/a.jpg")
    path.write_text('{"jpg": "image/jpeg"}')
    with pytest.raises(RulesFileError):
        TypeRules.from_file(path)
