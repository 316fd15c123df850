"""`Store.promote` and `Store.exists`: the upload worker's server-side move of a staged file,
with the real DataLake client against the DFS stand-in and with the `file://` store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vpipe_core.storage import ErrorCategory, FileStore, OneLakeUploader, UploadError
from vpipe_testing.dfs import LocalDfs

FS = "workspace"
BASE = "lh.Lakehouse/Files/vpipe"
STAGED = ".vpipe-staging/xact/m1/a.pdf"


@pytest.fixture
def dfs(tmp_path: Path) -> Iterator[LocalDfs]:
    with LocalDfs(tmp_path / "dfs", filesystems=[FS]) as server:
        yield server


@pytest.fixture
def store(dfs: LocalDfs) -> Iterator[OneLakeUploader]:
    with OneLakeUploader(dfs.service_client, FS, BASE, timeout_s=10) as uploader:
        yield uploader


def staged(dfs: LocalDfs, store: OneLakeUploader, tmp_path: Path, data: bytes = b"%PDF") -> None:
    source = tmp_path / "a.pdf"
    source.write_bytes(data)
    store.upload(source, STAGED, content_type="application/pdf")
    dfs.clear_requests()


def operations(dfs: LocalDfs) -> list[tuple[str, int]]:
    return [(r.operation, r.status) for r in dfs.requests]


def test_promote_is_one_rename_keeping_bytes_and_content_type(
    dfs: LocalDfs, store: OneLakeUploader, tmp_path: Path
) -> None:
    staged(dfs, store, tmp_path)
    assert store.promote(STAGED, "xact/e1/a.pdf") == f"{BASE}/xact/e1/a.pdf"
    assert operations(dfs) == [("rename", 201)]
    assert dfs.local_path(FS, f"{BASE}/xact/e1/a.pdf").read_bytes() == b"%PDF"
    assert not dfs.local_path(FS, f"{BASE}/{STAGED}").exists()
    assert dfs.content_type(FS, f"{BASE}/xact/e1/a.pdf") == "application/pdf"


def test_promote_replaces_an_earlier_file(
    dfs: LocalDfs, store: OneLakeUploader, tmp_path: Path
) -> None:
    staged(dfs, store, tmp_path, b"old")
    store.promote(STAGED, "xact/e1/a.pdf")
    staged(dfs, store, tmp_path, b"new")
    store.promote(STAGED, "xact/e1/a.pdf")
    assert dfs.local_path(FS, f"{BASE}/xact/e1/a.pdf").read_bytes() == b"new"


def test_nothing_staged_is_file_not_found_and_exists_tells_why(
    dfs: LocalDfs, store: OneLakeUploader, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError, match="nothing staged"):
        store.promote(STAGED, "xact/e1/a.pdf")
    assert store.exists("xact/e1/a.pdf") is False
    staged(dfs, store, tmp_path)
    store.promote(STAGED, "xact/e1/a.pdf")
    with pytest.raises(FileNotFoundError):
        store.promote(STAGED, "xact/e1/a.pdf")  # a redelivered message
    assert store.exists("xact/e1/a.pdf") is True


def test_a_missing_destination_directory_is_created_then_renamed_into(
    dfs: LocalDfs, store: OneLakeUploader, tmp_path: Path
) -> None:
    """Accounts with a hierarchical namespace rename only into an existing directory."""
    staged(dfs, store, tmp_path)
    dfs.fail_next(1, 404, code="RenameDestinationParentPathNotFound", operation="rename")
    store.promote(STAGED, "xact/e1/a.pdf")
    assert operations(dfs) == [("rename", 404), ("directory", 201), ("rename", 201)]
    assert dfs.local_path(FS, f"{BASE}/xact/e1/a.pdf").read_bytes() == b"%PDF"


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (403, ErrorCategory.INFRASTRUCTURE),
        (503, ErrorCategory.TRANSIENT),
        (400, ErrorCategory.PERMANENT),
    ],
)
def test_promote_failures_have_the_upload_categories(
    dfs: LocalDfs, store: OneLakeUploader, tmp_path: Path, status: int, category: ErrorCategory
) -> None:
    staged(dfs, store, tmp_path)
    dfs.fail_next(3, status, operation="rename")
    with pytest.raises(UploadError) as caught:
        store.promote(STAGED, "xact/e1/a.pdf")
    assert caught.value.category is category
    assert dfs.local_path(FS, f"{BASE}/{STAGED}").exists(), "still staged for the next try"


def test_a_missing_filesystem_is_infrastructure_for_exists(dfs: LocalDfs) -> None:
    with (
        OneLakeUploader(dfs.service_client, "nope", BASE, timeout_s=10) as store,
        pytest.raises(UploadError) as caught,
    ):
        store.exists("xact/e1/a.pdf")
    assert caught.value.category is ErrorCategory.INFRASTRUCTURE


# -- file:// store ----------------------------------------------------------------------------


def test_file_store_promotes_by_rename(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "lake")
    source = tmp_path / "a.pdf"
    source.write_bytes(b"%PDF")
    store.upload(source, STAGED)
    inode = (tmp_path / "lake" / STAGED).stat().st_ino
    assert store.promote(STAGED, "xact/e1/a.pdf") == str(tmp_path / "lake" / "xact/e1/a.pdf")
    assert (tmp_path / "lake" / "xact/e1/a.pdf").stat().st_ino == inode, "moved, not copied"
    assert store.exists("xact/e1/a.pdf") and not store.exists(STAGED)
    with pytest.raises(FileNotFoundError):
        store.promote(STAGED, "xact/e1/a.pdf")


def test_file_store_refuses_a_directory_at_the_destination(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "lake")
    source = tmp_path / "a.pdf"
    source.write_bytes(b"%PDF")
    store.upload(source, STAGED)
    (tmp_path / "lake" / "xact/e1/a.pdf").mkdir(parents=True)
    with pytest.raises(UploadError) as caught:
        store.promote(STAGED, "xact/e1/a.pdf")
    assert caught.value.category is ErrorCategory.PERMANENT


@pytest.mark.parametrize("relative_path", ["../x", "/abs", "a/../../x"])
def test_file_store_refuses_traversal_on_both_sides(tmp_path: Path, relative_path: str) -> None:
    store = FileStore(tmp_path / "lake")
    for staged_path, final in ((relative_path, "ok"), ("ok", relative_path)):
        with pytest.raises(UploadError) as caught:
            store.promote(staged_path, final)
        assert caught.value.category is ErrorCategory.PERMANENT
