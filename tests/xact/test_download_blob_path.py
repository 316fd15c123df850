"""`xact-download` refuses a task whose blob path would leave the destination directory before
it downloads anything (review item 12): a permanent failure with its reason and a
`failed_permanent` result, where it used to be downloaded and refused only at upload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from vpipe_core.ops.health_state import HealthState
from vpipe_core.outcome import Category, Dead, Done
from vpipe_core.record import Record
from vpipe_core.retry.inplace import InplaceRetry
from vpipe_core.storage import FileStore
from vpipe_core.transfer.download import Downloader
from vpipe_core.transfer.download_worker import DownloadOptions, DownloadWorker
from vpipe_core.transfer.policy import UrlPolicy
from vpipe_core.transfer.rules import TypeRules
from vpipe_testing.http_files import FileServer, Route
from vpipe_xact.topics import DOWNLOADS, RESULTS
from vpipe_xact.transfer import TRANSFER

LOCAL = frozenset({"127.0.0.1"})  # allowed, and plain http (the local servers)

PDF = b"%PDF-1.7\n" + b"page" * 100


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer() as files:
        files.add("/claims/Report.pdf", Route(PDF, "application/pdf"))
        yield files


@pytest.fixture
def worker(server: FileServer, tmp_path: Path) -> Iterator[DownloadWorker]:
    policy = UrlPolicy(LOCAL, LOCAL, allowed_ports=frozenset({server.port}))
    downloader = Downloader(policy, TypeRules(), tmp_path / "cache", fsync=False)
    options = DownloadOptions(worker="xact-download", concurrency=1, delays=(1, 2))
    store = FileStore(tmp_path / "store")
    download = DownloadWorker(TRANSFER, downloader, store, options, InplaceRetry(HealthState()))
    yield download
    download.close()


def task(server: FileServer, blob_path: str) -> Record:
    message: dict[str, Any] = {
        "trace_id": "t-1",
        "media_id": "m-1",
        "attachment_url": server.url("/claims/Report.pdf"),
        "blob_path": blob_path,
        "status_subtype": "documentsReceived",
        "file_type": "PDF",
        "assignment_id": "A1",
        "event_id": "e-1",
        "original_timestamp": "2026-02-03T08:15:00.000000Z",
    }
    return Record(DOWNLOADS, 0, 0, b"t-1", orjson.dumps(message))


def test_a_good_blob_path_is_downloaded(server: FileServer, worker: DownloadWorker) -> None:
    outcome = worker.handle(task(server, "documentsReceived/A1/t-1/A1_Report.pdf"))
    assert isinstance(outcome, Done)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "blob_path",
    [
        "documentsReceived/../../etc/A1_Report.pdf",
        "documentsReceived/A1/../A1_Report.pdf",
        "/documentsReceived/A1/t-1/A1_Report.pdf",
        "documentsReceived//t-1/A1_Report.pdf",
        "documentsReceived/A1\\..\\t-1/A1_Report.pdf",
    ],
)
def test_a_bad_blob_path_is_refused_before_the_download(
    server: FileServer, worker: DownloadWorker, blob_path: str
) -> None:
    outcome = worker.handle(task(server, blob_path))

    assert isinstance(outcome, Dead) and outcome.category is Category.PERMANENT
    assert "refused destination path" in outcome.error
    (failed,) = outcome.outputs
    assert failed.topic == RESULTS
    result = orjson.loads(failed.value or b"")
    assert (result["status"], result["error_category"]) == ("failed_permanent", "permanent")
    assert "refused destination path" in result["error_message"]
    assert server.requests == []
