"""Presigned links are stored without their signatures (issue 17 item 6): result messages and
the attachments and failed tables keep the link with its signing values redacted; only the
download tasks carry the usable link."""

from __future__ import annotations

import orjson
import pytest

from vpipe_claimx import result_processor as claimx_results
from vpipe_claimx.transfer import ClaimxTransfer
from vpipe_core.record import Record
from vpipe_core.transfer.domain import Report
from vpipe_core.transfer.presigned import stored_url
from vpipe_xact import messages as xact_messages
from vpipe_xact import result_processor as xact_results

SECRETS = ("s3cr3tsig", "AKIAEXAMPLE", "FwoGZXIvYXdzEJr", "sastoken")
SIGNED = [
    "https://bucket.s3.amazonaws.com/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20260203&X-Amz-Date=20260203T081500Z"
    "&X-Amz-Expires=3600&X-Amz-Security-Token=FwoGZXIvYXdzEJr&X-Amz-Signature=s3cr3tsig",
    "https://acct.blob.core.windows.net/c/a.pdf?sv=2022-11-02&se=2026-02-04&sp=r&sig=sastoken",
]


def assert_unsigned(text: str) -> None:
    assert not any(secret in text for secret in SECRETS), text


@pytest.mark.parametrize("url", SIGNED)
def test_stored_url_keeps_the_link_but_not_its_signature(url: str) -> None:
    stored = stored_url(url)
    assert stored is not None and stored.split("?")[0] == url.split("?")[0]
    assert_unsigned(stored)
    assert stored_url(None) is None


@pytest.mark.parametrize("url", SIGNED)
def test_xact_result_messages_and_rows_carry_no_signature(url: str) -> None:
    task = {
        "trace_id": "t1",
        "media_id": "m1",
        "attachment_url": url,
        "blob_path": "documentsReceived/A1/t1/A1_a.jpg",
        "status_subtype": "documentsReceived",
        "file_type": "JPG",
        "assignment_id": "A1",
        "event_id": "e1",
        "original_timestamp": "2026-02-03T08:15:00.000000Z",
    }
    results = [
        xact_messages.result(task, "completed", retry_count=0, bytes_downloaded=3),
        xact_messages.result(task, "failed_permanent", retry_count=1, error_message="404"),
    ]
    for message in results:
        assert_unsigned(orjson.dumps(message).decode())
    with_signature = [{**message, "attachment_url": url} for message in results]  # older ones
    records = [Record("r", 0, i, None, orjson.dumps(m)) for i, m in enumerate(with_signature)]
    for item in xact_results.ResultRows(record_failures=True)(records):
        assert item is not None and not isinstance(item, list)
        assert_unsigned(orjson.dumps(item.row, default=str).decode())  # type: ignore[union-attr]


@pytest.mark.parametrize("url", SIGNED)
def test_claimx_result_messages_and_failed_rows_carry_no_signature(url: str) -> None:
    task = {
        "media_id": "11",
        "project_id": "7",
        "download_url": url,
        "blob_path": "7/media/11_a.jpg",
        "file_type": "jpg",
        "file_name": "a.jpg",
        "source_event_id": "e1",
    }
    report = Report("failed_permanent", 1, 403, 0, "permanent", "forbidden")
    message = ClaimxTransfer().result_message(task, report)
    assert_unsigned(orjson.dumps(message).decode())
    record = Record("r", 0, 0, None, orjson.dumps({**message, "download_url": url}))
    (item,) = claimx_results.ResultRows(record_failures=True)([record])
    assert_unsigned(orjson.dumps(item.row, default=str).decode())  # type: ignore[union-attr]


@pytest.mark.parametrize("url", SIGNED)
def test_claimx_media_rows_reach_their_table_without_the_signature(url: str) -> None:
    from vpipe_claimx.rows.entities import EntityRows, entities_message

    task = {"event_id": "e1", "event_type": "PROJECT_FILE_ADDED", "project_id": "7"}
    media = {"media_id": "11", "full_download_link": url}
    message = entities_message(task, EntityRows(media=[media]))
    assert_unsigned(orjson.dumps(message).decode())
    assert media["full_download_link"] == url, "the row the download task is built from is kept"
