"""The transfer contract, once, over every domain's `TransferDomain` (`vpipe_<domain>.transfer`):
what the shared download and upload workers rely on when they read and build a domain's messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest

from vpipe_claimx.transfer import TRANSFER as CLAIMX
from vpipe_core.transfer.domain import Report, TransferDomain, staged_path
from vpipe_core.transfer.download import DownloadResult
from vpipe_xact.transfer import TRANSFER as XACT

SIGNATURE = "0a013409ef2cd63add898806ee2bf79587a3cb82424bcd21bfdea7dcc7ff460b"
S3_URL = (
    "https://files.example.com/exports/Front_Elevation_03.JPG?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Date=20260203T081500Z&X-Amz-Expires=604800&X-Amz-SignedHeaders=host"
    f"&X-Amz-Signature={SIGNATURE}"
)


@attrs.frozen
class Case:
    """A domain's transfer implementation and a valid task of it."""

    transfer: TransferDomain
    task: dict[str, Any]
    url_field: str
    file_name: str


XACT_CASE = Case(
    XACT,
    {
        "trace_id": "7d2f4a90-1c3e-4b8a-9f61-2e5d8c0b7a13",
        "media_id": "6f7ee10a-02f9-5ad0-80c4-1ab86c9cc8d5",
        "attachment_url": S3_URL,
        "blob_path": "documentsReceived/T4W9R2K/7d2f4a90/T4W9R2K_Front_Elevation_03.jpg",
        "status_subtype": "documentsReceived",
        "file_type": "JPG",
        "assignment_id": "T4W9R2K",
        "estimate_version": None,
        "event_id": "e-1",
        "event_type": "xact",
        "event_subtype": "documentsReceived",
        "original_timestamp": "2026-02-03T08:15:00Z",
        "retry_count": 0,
        "metadata": {},
    },
    "attachment_url",
    "T4W9R2K_Front_Elevation_03.jpg",
)
CLAIMX_CASE = Case(
    CLAIMX,
    {
        "media_id": "9001",
        "project_id": "5517342",
        "download_url": S3_URL,
        "blob_path": "5517342/media/9001_IMG_0001.jpg",
        "file_type": "jpg",
        "file_name": "IMG_0001.jpg",
        "source_event_id": "evt-1",
        "expires_at": None,
        "refresh_count": 0,
        "retry_count": 0,
        "metadata": {},
    },
    "download_url",
    "IMG_0001.jpg",
)


@pytest.fixture(params=[XACT_CASE, CLAIMX_CASE], ids=lambda case: case.transfer.name)
def case(request: pytest.FixtureRequest) -> Case:
    return request.param


def _fetched(tmp_path: Path) -> DownloadResult:
    return DownloadResult(tmp_path / "file.jpg", 1234, "ab" * 32, "image/jpeg", url=S3_URL)


def test_the_topics_follow_the_domain_name(case: Case):
    domain = case.transfer.name
    assert case.transfer.pending_topic == f"{domain}.downloads.pending"
    assert case.transfer.cached_topic == f"{domain}.downloads.cached"
    assert case.transfer.results_topic == f"{domain}.downloads.results"


def test_a_task_reads_into_its_file_and_cache_path(case: Case):
    task = case.transfer.read_task(orjson.dumps(case.task))
    assert (task.media_id, task.url, task.blob_path) == (
        case.task["media_id"],
        S3_URL,
        case.task["blob_path"],
    )
    assert task.cache_path == f"{case.transfer.name}/{task.media_id}/{case.file_name}"
    assert task.message == case.task


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"", None])
def test_what_is_not_a_json_object_is_invalid(case: Case, raw: bytes | None):
    with pytest.raises(ValueError):
        case.transfer.read_task(raw)


def test_a_task_without_its_url_is_invalid(case: Case):
    with pytest.raises(ValueError, match=case.url_field):
        case.transfer.read_task(orjson.dumps({**case.task, case.url_field: ""}))


def test_the_cached_message_reads_back_as_the_cached_file(case: Case, tmp_path: Path):
    task = case.transfer.read_task(orjson.dumps(case.task))
    staged = staged_path(task, "00112233aabbccdd", case.transfer.name)
    fetched = attrs.evolve(_fetched(tmp_path), staged_path=staged)
    cached = case.transfer.cached_message(task, fetched, retry_count=2)
    assert cached["staged_path"] == staged
    assert staged.startswith(task.blob_path.rpartition("/")[0] + "/.")
    assert (cached["bytes_downloaded"], cached["http_status"], cached["retry_count"]) == (
        1234,
        200,
        2,
    )
    read = case.transfer.read_cached(orjson.dumps(cached))
    assert read.task == attrs.evolve(task, message=read.task.message)
    assert (read.bytes, read.content_type, read.staged_path) == (1234, "image/jpeg", staged)


def test_a_staged_path_that_is_not_the_tasks_is_not_used(case: Case, tmp_path: Path):
    task = case.transfer.read_task(orjson.dumps(case.task))
    cached = dict(case.transfer.cached_message(task, _fetched(tmp_path), retry_count=0))
    other = attrs.evolve(task, blob_path="elsewhere/x.jpg")
    for claimed in (
        "../../etc/passwd",
        staged_path(other, "00112233aabbccdd"),
        staged_path(task, "00112233aabbccdd").replace("00112233", "zz112233"),
        None,
        17,
    ):
        cached["staged_path"] = claimed
        assert case.transfer.read_cached(orjson.dumps(cached)).staged_path is None, claimed


@pytest.mark.parametrize("size", [None, -1, "1234", True])
def test_a_cached_message_without_its_byte_count_is_invalid(case: Case, tmp_path: Path, size):
    task = case.transfer.read_task(orjson.dumps(case.task))
    cached = dict(case.transfer.cached_message(task, _fetched(tmp_path), retry_count=0))
    cached["bytes_downloaded"] = size
    with pytest.raises(ValueError, match="bytes_downloaded"):
        case.transfer.read_cached(orjson.dumps(cached))


def test_a_cache_miss_sends_back_the_same_task(case: Case, tmp_path: Path):
    task = case.transfer.read_task(orjson.dumps(case.task))
    cached = case.transfer.cached_message(task, _fetched(tmp_path), retry_count=0)
    again = case.transfer.task_message(cached)
    assert "staged_path" not in again
    rebuilt = case.transfer.read_task(orjson.dumps(again))
    assert (rebuilt.media_id, rebuilt.url, rebuilt.blob_path, rebuilt.cache_path) == (
        task.media_id,
        task.url,
        task.blob_path,
        task.cache_path,
    )


def test_a_result_keeps_no_usable_link_and_no_secret(case: Case):
    report = Report(
        "failed_permanent",
        retry_count=3,
        http_status=403,
        error_category="permanent",
        error_message=f"HTTP 403 for {S3_URL}",
    )
    result = case.transfer.result_message(case.task, report)
    assert (result["status"], result["retry_count"], result["http_status"]) == (
        "failed_permanent",
        3,
        403,
    )
    assert result["media_id"] == case.task["media_id"]
    assert result["blob_path"] == case.task["blob_path"]
    assert SIGNATURE not in orjson.dumps(result).decode()
    assert result["created_at"]


def test_every_record_is_keyed_and_carries_trace_and_media_headers(case: Case):
    output = case.transfer.output("some.topic", case.task, {"vpipe_redownload": "1"})
    headers = dict(output.headers or [])
    assert output.topic == "some.topic"
    assert output.key and headers["trace_id"] == output.key
    assert headers["media_id"] == case.task["media_id"].encode()
    assert headers["vpipe_redownload"] == b"1"
    assert orjson.loads(output.value) == case.task
