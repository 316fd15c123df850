"""OneLake uploads with the real azure-storage-file-datalake client against the local DFS stand-in,
the `file://` store, and destination parsing."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vpipe_core.storage import (
    ErrorCategory,
    FileStore,
    OneLakeUploader,
    UploadError,
    make_store,
    parse_abfss,
)
from vpipe_testing.dfs import LocalDfs

PATH_STYLE = frozenset({"127.0.0.1"})  # ONELAKE_PATH_STYLE_HOSTS of the parse tests

FS = "workspace"
BASE = "lh.Lakehouse/Files/vpipe"


@pytest.fixture
def dfs(tmp_path: Path) -> Iterator[LocalDfs]:
    with LocalDfs(tmp_path / "dfs", filesystems=[FS]) as server:
        yield server


class Factory:
    """Builds stand-in clients and counts how often the uploader asked for one."""

    def __init__(self, dfs: LocalDfs, **client_options: Any) -> None:
        self.dfs = dfs
        self.options = client_options
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        return self.dfs.service_client(**self.options)


def uploader(dfs: LocalDfs, *, filesystem: str = FS, **options: Any) -> OneLakeUploader:
    client_options = options.pop("client_options", {})
    options.setdefault("timeout_s", 10)
    return OneLakeUploader(Factory(dfs, **client_options), filesystem, BASE, **options)


def no_retries() -> dict[str, Any]:
    from azure.storage.filedatalake import ExponentialRetry

    return {"retry_policy": ExponentialRetry(retry_total=0)}


def write_file(path: Path, size: int) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def operations(dfs: LocalDfs) -> list[tuple[str, int]]:
    return [(r.operation, r.status) for r in dfs.requests]


# -- uploads ----------------------------------------------------------------------------------


def test_small_file_lands_with_its_bytes_and_sha256(dfs: LocalDfs, tmp_path: Path) -> None:
    source = tmp_path / "small.pdf"
    digest = write_file(source, 1234)
    with uploader(dfs) as store:
        result = store.upload(source, "a/b/small.pdf", content_type="application/pdf")

    assert result.path == f"{BASE}/a/b/small.pdf"
    assert (result.bytes, result.sha256) == (1234, digest)
    assert dfs.local_path(FS, result.path).read_bytes() == source.read_bytes()
    assert operations(dfs) == [("file", 201), ("append", 202), ("flush", 200), ("rename", 201)]
    assert all(r.auth_scheme == "SharedKey" for r in dfs.requests)
    props = dfs.service_client().get_file_client(FS, result.path).get_file_properties()
    assert (props.size, props.content_settings.content_type) == (1234, "application/pdf")


def test_large_file_is_appended_in_chunks(dfs: LocalDfs, tmp_path: Path) -> None:
    source = tmp_path / "large.bin"
    size = 30 * 1024 * 1024 + 123
    digest = write_file(source, size)
    with uploader(dfs, chunk_mb=4) as store:
        result = store.upload(source, "big/large.bin")

    assert (result.bytes, result.sha256) == (size, digest)
    assert dfs.sha256(FS, result.path) == digest
    appends = [r for r in dfs.requests if r.operation == "append"]
    assert len(appends) == 8
    assert [int(r.query["position"]) for r in appends] == [i * 4 * 1024 * 1024 for i in range(8)]
    flush, rename = dfs.requests[-2:]
    assert (flush.operation, flush.query["position"], flush.query["close"]) == (
        "flush",
        str(size),
        "true",
    )
    assert rename.operation == "rename" and rename.path.endswith("/big/large.bin")


def test_empty_file(dfs: LocalDfs, tmp_path: Path) -> None:
    source = tmp_path / "empty"
    source.write_bytes(b"")
    with uploader(dfs) as store:
        result = store.upload(source, "empty")
    assert (result.bytes, result.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert dfs.local_path(FS, result.path).read_bytes() == b""
    assert operations(dfs) == [("file", 201), ("flush", 200), ("rename", 201)]


def test_reupload_overwrites(dfs: LocalDfs, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_file(first, 5 * 1024 * 1024)
    digest = write_file(second, 1000)
    with uploader(dfs, chunk_mb=1) as store:
        store.upload(first, "x/file.jpg")
        again = store.upload(first, "x/file.jpg")
        assert dfs.local_path(FS, again.path).read_bytes() == first.read_bytes()
        result = store.upload(second, "x/file.jpg")

    assert (result.bytes, result.sha256) == (1000, digest)
    assert dfs.local_path(FS, result.path).read_bytes() == second.read_bytes()


def test_concurrent_uploads_fit_the_connection_pool(
    dfs: LocalDfs, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """12 uploads at once through make_store's client: the pool (12) never discards connections,
    as requests' default pool of 10 would."""
    sources = []
    for i in range(12):
        sources.append(tmp_path / f"f{i}")
        write_file(sources[-1], 2000)
    store = make_store(
        dfs.url(FS, BASE),
        dfs.credential,
        timeout_s=10,
        max_concurrency=12,
        path_style_hosts=dfs.hosts,
    )
    dfs.delay_next(0.3, n=12)  # hold the 12 creates so that all connections are open at once
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            store.upload(sources[i], f"many/f{i}")
        except BaseException as exc:
            errors.append(exc)

    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    store.close()

    assert errors == []
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
    for i in range(12):
        assert dfs.local_path(FS, f"{BASE}/many/f{i}").read_bytes() == sources[i].read_bytes()


def test_make_store_over_https_uses_the_bearer_credential(tmp_path: Path) -> None:
    source = tmp_path / "doc"
    digest = write_file(source, 3000)
    with LocalDfs(tmp_path / "dfs", filesystems=[FS], tls=True) as dfs:
        credential = dfs.credential
        store = make_store(
            dfs.url(FS, BASE),
            credential,
            timeout_s=10,
            max_concurrency=2,
            ca_bundle=dfs.ca_file,
            path_style_hosts=dfs.hosts,
        )
        result = store.upload(source, "doc")
        store.close()
        assert dfs.sha256(FS, result.path) == digest
        assert {r.auth_scheme for r in dfs.requests} == {"Bearer"}
        assert credential.calls >= 1


def test_missing_local_file_raises_before_any_request(dfs: LocalDfs, tmp_path: Path) -> None:
    with uploader(dfs) as store, pytest.raises(FileNotFoundError):
        store.upload(tmp_path / "gone", "gone")
    assert dfs.requests == []


@pytest.mark.parametrize(
    "relative_path",
    ["../x", "a/../../x", "/etc/passwd", "C:/x", "a\\..\\x", "a//b", "./a", "a/.", "", "a\nb"],
)
def test_path_traversal_is_refused_before_any_request(
    dfs: LocalDfs, tmp_path: Path, relative_path: str
) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"data")
    with uploader(dfs) as store, pytest.raises(UploadError) as caught:
        store.upload(source, relative_path)
    assert caught.value.category is ErrorCategory.PERMANENT
    assert dfs.requests == []


# -- errors and retries -----------------------------------------------------------------------


def test_one_503_is_retried_by_the_sdk(dfs: LocalDfs, tmp_path: Path) -> None:
    source = tmp_path / "f"
    digest = write_file(source, 10_000)
    dfs.fail_next(1, 503, operation="append")
    with uploader(dfs) as store:
        result = store.upload(source, "f")
    assert result.sha256 == digest == dfs.sha256(FS, result.path)
    assert operations(dfs) == [
        ("file", 201),
        ("append", 503),
        ("append", 202),
        ("flush", 200),
        ("rename", 201),
    ]


def test_persistent_503_is_transient(dfs: LocalDfs, tmp_path: Path) -> None:
    source = tmp_path / "f"
    write_file(source, 10)
    dfs.fail_next(3, 503)  # the first attempt and the SDK's two retries
    with uploader(dfs) as store, pytest.raises(UploadError) as caught:
        store.upload(source, "f")
    assert (caught.value.category, caught.value.status, caught.value.code) == (
        ErrorCategory.TRANSIENT,
        503,
        "ServerBusy",
    )
    assert len(dfs.requests) == 3


@pytest.mark.parametrize("status", [408, 429, 500, 502])
def test_throttling_and_server_errors_are_transient(
    dfs: LocalDfs, tmp_path: Path, status: int
) -> None:
    source = tmp_path / "f"
    write_file(source, 10)
    dfs.fail_next(1, status, operation="flush")
    with uploader(dfs, client_options=no_retries()) as store, pytest.raises(UploadError) as caught:
        store.upload(source, "f")
    assert (caught.value.category, caught.value.status) == (ErrorCategory.TRANSIENT, status)


def test_timeout_is_transient(dfs: LocalDfs, tmp_path: Path) -> None:
    source = tmp_path / "f"
    write_file(source, 10)
    dfs.delay_next(2)
    store = uploader(dfs, timeout_s=0.5, client_options=no_retries())
    with store, pytest.raises(UploadError) as caught:
        store.upload(source, "f")
    assert caught.value.category is ErrorCategory.TRANSIENT
    assert caught.value.status is None


def test_connection_refused_is_transient(tmp_path: Path) -> None:
    source = tmp_path / "f"
    write_file(source, 10)
    dfs = LocalDfs(tmp_path / "dfs", filesystems=[FS]).start()
    client = dfs.service_client(**no_retries())
    dfs.stop()  # nothing listens on the port any more
    store = OneLakeUploader(lambda: client, FS, BASE, timeout_s=5)
    with store, pytest.raises(UploadError) as caught:
        store.upload(source, "f")
    assert caught.value.category is ErrorCategory.TRANSIENT


def test_400_is_permanent(dfs: LocalDfs, tmp_path: Path) -> None:
    source = tmp_path / "f"
    write_file(source, 10)
    dfs.fail_next(1, 400, code="InvalidResourceName", operation="file")
    with uploader(dfs) as store, pytest.raises(UploadError) as caught:
        store.upload(source, "bad name")
    assert (caught.value.category, caught.value.status, caught.value.code) == (
        ErrorCategory.PERMANENT,
        400,
        "InvalidResourceName",
    )
    assert len(dfs.requests) == 1  # not retried


def test_401_refreshes_the_client_once_then_succeeds(dfs: LocalDfs, tmp_path: Path) -> None:
    source = tmp_path / "f"
    digest = write_file(source, 100)
    refreshed: list[bool] = []
    dfs.fail_next(1, 401, operation="append")
    store = uploader(dfs, on_auth_error=lambda: refreshed.append(True))
    with store:
        result = store.upload(source, "f")
    assert result.sha256 == digest == dfs.sha256(FS, result.path)
    assert refreshed == [True]
    assert store._factory.calls == 2  # type: ignore[attr-defined]


def test_persistent_401_is_auth(dfs: LocalDfs, tmp_path: Path) -> None:
    source = tmp_path / "f"
    write_file(source, 100)
    dfs.fail_next(5, 401)
    store = uploader(dfs)
    with store, pytest.raises(UploadError) as caught:
        store.upload(source, "f")
    assert (caught.value.category, caught.value.status) == (ErrorCategory.AUTH, 401)
    assert [r.status for r in dfs.requests] == [401, 401]  # one try, one after the refresh
    assert store._factory.calls == 2  # type: ignore[attr-defined]


def test_403_is_infrastructure(dfs: LocalDfs, tmp_path: Path) -> None:
    source = tmp_path / "f"
    write_file(source, 10)
    dfs.fail_next(1, 403, operation="file")
    with uploader(dfs) as store, pytest.raises(UploadError) as caught:
        store.upload(source, "f")
    assert (caught.value.category, caught.value.status) == (ErrorCategory.INFRASTRUCTURE, 403)


def test_missing_filesystem_is_infrastructure(dfs: LocalDfs, tmp_path: Path) -> None:
    source = tmp_path / "f"
    write_file(source, 10)
    with uploader(dfs, filesystem="no-such-workspace") as store, pytest.raises(UploadError) as e:
        store.upload(source, "f")
    assert (e.value.category, e.value.status, e.value.code) == (
        ErrorCategory.INFRASTRUCTURE,
        404,
        "FilesystemNotFound",
    )


def test_client_that_cannot_be_built_is_infrastructure(tmp_path: Path) -> None:
    source = tmp_path / "f"
    write_file(source, 10)

    def broken() -> Any:
        raise ValueError("Token credential is only supported with HTTPS.")

    store = OneLakeUploader(broken, FS, BASE, timeout_s=5)
    with pytest.raises(UploadError) as caught:
        store.upload(source, "f")
    assert caught.value.category is ErrorCategory.INFRASTRUCTURE


# -- the stand-in itself ----------------------------------------------------------------------


def test_stand_in_checks_flush_position_and_serves_ranges(dfs: LocalDfs) -> None:
    from azure.core.exceptions import HttpResponseError

    client = dfs.service_client().get_file_client(FS, "dir/r.bin")
    client.create_file()
    client.append_data(b"hello ", offset=0, length=6)
    client.append_data(b"world", offset=6, length=5)
    with pytest.raises(HttpResponseError) as caught:
        client.flush_data(12)
    error = caught.value
    assert (error.status_code, error.error_code) == (400, "InvalidFlushPosition")  # type: ignore[attr-defined]
    assert dfs.local_path(FS, "dir/r.bin").read_bytes() == b""  # nothing committed yet
    client.flush_data(11)
    assert client.download_file(offset=6, length=5).readall() == b"world"
    assert client.download_file().readall() == b"hello world"
    assert client.get_file_properties().size == 11
    client.delete_file()
    assert not client.exists()


# -- file:// store ----------------------------------------------------------------------------


def test_file_store_round_trip(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    digest = write_file(source, 3 * 1024 * 1024 + 5)
    root = tmp_path / "lake"
    store = make_store(root.as_uri(), None, timeout_s=5, max_concurrency=2)
    assert isinstance(store, FileStore)

    result = store.upload(source, "xact/a/b.bin")
    assert result.path == str(root / "xact" / "a" / "b.bin")
    assert (result.bytes, result.sha256) == (source.stat().st_size, digest)
    assert Path(result.path).read_bytes() == source.read_bytes()

    source.write_bytes(b"new")
    assert store.upload(source, "xact/a/b.bin").bytes == 3
    assert Path(result.path).read_bytes() == b"new"
    assert sorted(p.name for p in (root / "xact" / "a").iterdir()) == ["b.bin"]  # no temp left


@pytest.mark.parametrize("relative_path", ["../x", "/abs", "a/../../x", "a//b"])
def test_file_store_refuses_traversal(tmp_path: Path, relative_path: str) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"x")
    with pytest.raises(UploadError) as caught:
        FileStore(tmp_path / "lake").upload(source, relative_path)
    assert caught.value.category is ErrorCategory.PERMANENT
    assert not (tmp_path / "lake").exists()


def test_file_store_refuses_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"x")
    (tmp_path / "lake").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "lake" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(UploadError) as caught:
        FileStore(tmp_path / "lake").upload(source, "link/f")
    assert caught.value.category is ErrorCategory.PERMANENT
    assert list((tmp_path / "outside").iterdir()) == []


# -- destinations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "abfss://claims-ws@onelake.dfs.fabric.microsoft.com/lh.Lakehouse/Files/vpipe/xact",
            (
                "https://onelake.dfs.fabric.microsoft.com",
                "claims-ws",
                "lh.Lakehouse/Files/vpipe/xact",
            ),
        ),
        (
            "abfss://0f5c2a1e-1111-2222-3333-444455556666@onelake.dfs.fabric.microsoft.com/"
            "9a8b7c6d-aaaa-bbbb-cccc-ddddeeeeffff/Files/",
            (
                "https://onelake.dfs.fabric.microsoft.com",
                "0f5c2a1e-1111-2222-3333-444455556666",
                "9a8b7c6d-aaaa-bbbb-cccc-ddddeeeeffff/Files",
            ),
        ),
        (
            "https://onelake.dfs.fabric.microsoft.com/My%20Space/lh.Lakehouse/Files/d",
            ("https://onelake.dfs.fabric.microsoft.com", "My Space", "lh.Lakehouse/Files/d"),
        ),
        (
            "abfss://data@acct.dfs.core.windows.net/claims",
            ("https://acct.dfs.core.windows.net", "data", "claims"),
        ),
        (
            "http://127.0.0.1:4567/devaccount/ws/lh.Lakehouse/Files/x",
            ("http://127.0.0.1:4567/devaccount", "ws", "lh.Lakehouse/Files/x"),
        ),
    ],
)
def test_parse_abfss_accepts(uri: str, expected: tuple[str, str, str]) -> None:
    assert parse_abfss(uri, PATH_STYLE) == expected


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://bucket/key", "unsupported storage URI"),
        ("abfs://ws@onelake.dfs.fabric.microsoft.com/lh.Lakehouse/Files/x", "unsupported"),
        ("abfss://onelake.dfs.fabric.microsoft.com/lh.Lakehouse/Files/x", "<workspace>@"),
        ("abfss://@onelake.dfs.fabric.microsoft.com/lh.Lakehouse/Files/x", "<workspace>@"),
        ("abfss://ws@example.com/lh.Lakehouse/Files/x", "not a DFS endpoint"),
        ("abfss://ws@onelake.dfs.fabric.microsoft.com/lh.Lakehouse/Tables/x", "Files"),
        ("abfss://ws@onelake.dfs.fabric.microsoft.com/", "Files"),
        ("abfss://ws@onelake.dfs.fabric.microsoft.com/lh.Lakehouse/Files/../x", "'..'"),
        ("http://onelake.dfs.fabric.microsoft.com/ws/lh.Lakehouse/Files", "unsupported"),
        ("https://onelake.dfs.fabric.microsoft.com", "no filesystem"),
        ("http://127.0.0.1:4567/devaccount", "<account>/<fs>"),
        ("${ONELAKE_BASE_PATH}/xact", "unresolved variable"),
        ("/var/lib/lake", "unsupported storage URI"),
    ],
)
def test_parse_abfss_refuses(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("$", r"\$").replace("(", r"\(")):
        parse_abfss(uri, PATH_STYLE)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_path_style_endpoint_needs_its_host_in_the_setting(scheme: str) -> None:
    with pytest.raises(ValueError, match="ONELAKE_PATH_STYLE_HOSTS"):
        parse_abfss(f"{scheme}://127.0.0.1:4567/devaccount/ws/lh.Lakehouse/Files/x")


def test_make_store_refuses_relative_file_uris() -> None:
    with pytest.raises(ValueError, match="file:///"):
        make_store("file://host/share", None, timeout_s=5, max_concurrency=1)


def test_a_failed_second_upload_leaves_the_stored_file_whole_and_no_part_file(
    dfs: LocalDfs, tmp_path: Path
) -> None:
    # A redelivered task re-uploads a file that is already stored (at-least-once delivery).
    first, second = tmp_path / "first", tmp_path / "second"
    digest = write_file(first, 3 * 1024 * 1024)
    write_file(second, 3 * 1024 * 1024)
    with uploader(dfs, chunk_mb=1, client_options=no_retries()) as store:
        stored = store.upload(first, "a/report.pdf")
        dfs.fail_next(1, 500, operation="flush")
        with pytest.raises(UploadError):
            store.upload(second, "a/report.pdf")

    assert dfs.sha256(FS, stored.path) == digest, "the stored file was not truncated"
    folder = dfs.local_path(FS, stored.path).parent
    assert sorted(p.name for p in folder.iterdir()) == ["report.pdf"], "no part file is left"


def test_two_uploads_of_one_file_at_once_never_interleave(dfs: LocalDfs, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    source = tmp_path / "f"
    digest = write_file(source, 6 * 1024 * 1024)
    with uploader(dfs, chunk_mb=1) as store, ThreadPoolExecutor(2) as pool:
        dfs.delay_next(0.3, n=4)  # both attempts are in flight at once
        results = list(pool.map(lambda _: store.upload(source, "same/f.bin"), range(2)))

    assert {r.path for r in results} == {f"{BASE}/same/f.bin"}
    assert dfs.sha256(FS, results[0].path) == digest
