"""`claimx-uploader` (claimx.md §10.3) built by its `build(ctx)`: files the real downloader
staged in a `file://` OneLake promoted, the §6 result message, lost staged files,
configuration."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from transfer_support import (
    build_downloader,
    build_uploader,
    decoded,
    download_task,
    environment,
    media_items,
    record,
)

from vpipe_claimx.result_processor import parse_result
from vpipe_core.config.loader import ConfigError, load_settings
from vpipe_core.outcome import Dead, Done
from vpipe_core.transfer.destination import upload_destination
from vpipe_core.transfer.presigned import stored_url
from vpipe_core.transfer.settings import TransferSettings
from vpipe_testing.claimx.fake_api import FakeClaimxApi

SAME_NAME = ("98810452", "98810467")
CACHED = "claimx.downloads.cached"


@pytest.fixture
def fake() -> Iterator[FakeClaimxApi]:
    with FakeClaimxApi() as server:
        yield server


@pytest.fixture
def workers(fake: FakeClaimxApi, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    env = environment(tmp_path, fake)
    download, upload = build_downloader(env), build_uploader(env)
    yield download, upload
    download.close()
    upload.close()


def cached_for(download: Any, task: dict, offset: int = 0) -> dict:
    outcome = download.handle(record(task, offset=offset))
    assert isinstance(outcome, Done)
    return decoded(outcome.outputs[0])


def test_two_media_with_the_same_name_both_arrive(fake, workers, tmp_path: Path):
    download, upload = workers
    items = media_items(fake, *SAME_NAME)
    results = []
    for offset, media_id in enumerate(SAME_NAME):
        cached = cached_for(download, download_task(items[media_id]), offset)
        outcome = upload.handle(record(cached, CACHED, offset))
        assert isinstance(outcome, Done)
        results.append(decoded(outcome.outputs[0]))
    for media_id, result in zip(SAME_NAME, results, strict=True):
        stored = tmp_path / "onelake" / "claimx" / "5517342" / "media" / f"{media_id}_IMG_0001.jpg"
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == fake.file_sha256(media_id)
        assert result["blob_path"] == f"5517342/media/{media_id}_IMG_0001.jpg"


def test_the_completed_result_is_what_the_result_processor_reads(fake, workers, tmp_path: Path):
    download, upload = workers
    item = media_items(fake, SAME_NAME[0])[SAME_NAME[0]]
    cached = cached_for(download, download_task(item))
    outcome = upload.handle(record(cached, CACHED, 3, vpipe_attempt="1"))
    result = decoded(outcome.outputs[0])
    assert result["status"] == "completed"
    assert result["bytes_uploaded"] == len(fake.file_bytes(SAME_NAME[0]))
    assert (result["retry_count"], result["url_refresh_attempted"]) == (1, False)
    assert set(result) == {
        "media_id", "project_id", "download_url", "blob_path", "file_type", "file_name",
        "source_event_id", "status", "bytes_uploaded", "http_status", "error_category",
        "error_message", "retry_count", "url_refresh_attempted", "created_at",
    }  # fmt: skip
    parsed = parse_result(outcome.outputs[0].value)
    assert (parsed.bytes_uploaded, parsed.status.value) == (result["bytes_uploaded"], "completed")
    assert not (tmp_path / "onelake" / "claimx" / cached["staged_path"]).exists(), "promoted"


def test_a_refreshed_link_is_reported_with_the_completed_result(fake, workers):
    download, upload = workers
    fake.expire_links(1)
    item = media_items(fake, SAME_NAME[0])[SAME_NAME[0]]
    cached = cached_for(download, download_task(item))
    result = decoded(upload.handle(record(cached, CACHED)).outputs[0])
    assert result["url_refresh_attempted"] is True
    assert cached["download_url"] != item["fullDownloadLink"], "the refreshed link"
    assert result["download_url"] == stored_url(cached["download_url"]), "without its signature"


def test_a_lost_staged_file_goes_back_to_download(fake, workers, tmp_path: Path):
    download, upload = workers
    item = media_items(fake, SAME_NAME[0])[SAME_NAME[0]]
    task = download_task(item)
    cached = cached_for(download, task)
    (tmp_path / "onelake" / "claimx" / cached["staged_path"]).unlink()
    outcome = upload.handle(record(cached, CACHED))
    assert isinstance(outcome, Done)
    (again,) = outcome.outputs
    assert again.topic == "claimx.downloads.pending"
    assert again.key == str(task["media_id"]).encode(), "keyed by media id, as the enricher keys it"
    assert decoded(again) == task
    assert dict(again.headers)["vpipe_redownload"] == b"1"
    redownloaded = download.handle(record(decoded(again), offset=1, vpipe_redownload="1"))
    assert len(redownloaded.outputs) == 2, "a re-download bypasses dedup (cached + mark)"
    assert dict(redownloaded.outputs[0].headers)["vpipe_redownload"] == b"1"


def test_the_third_missing_file_is_dead(fake, workers, tmp_path: Path):
    _, upload = workers
    item = media_items(fake, SAME_NAME[0])[SAME_NAME[0]]
    cached = {**download_task(item), "bytes_downloaded": 10}
    outcome = upload.handle(record(cached, CACHED, vpipe_redownload="3"))
    assert isinstance(outcome, Dead)
    assert decoded(outcome.outputs[0])["status"] == "failed_permanent"


def test_destination_from_settings(fake, tmp_path: Path):
    env = environment(tmp_path, fake)

    def transfer(**extra: str) -> TransferSettings:
        return load_settings(TransferSettings, {**env, **extra})

    from vpipe_claimx.settings import ClaimxSettings

    def destination(settings: ClaimxSettings, transfer: TransferSettings) -> str:
        return upload_destination("claimx", settings.onelake_path, transfer, "claimx-uploader")

    claimx = load_settings(ClaimxSettings, env)
    assert destination(claimx, transfer()) == f"file://{tmp_path / 'onelake'}/claimx"
    explicit = load_settings(ClaimxSettings, {**env, "ONELAKE_CLAIMX_PATH": "file:///x/cx"})
    assert destination(explicit, transfer()) == "file:///x/cx"
    with pytest.raises(ConfigError, match="ONELAKE_CLAIMX_PATH or ONELAKE_BASE_PATH"):
        destination(claimx, transfer(ONELAKE_BASE_PATH=""))


def test_upload_settings_reach_the_worker(fake, tmp_path: Path):
    env = environment(tmp_path, fake, CLAIMX_UPLOAD_CONCURRENCY="4", CACHE_MAX_AGE_HOURS="2")
    worker = build_uploader(env)
    try:
        assert worker.concurrency == 4
    finally:
        worker.close()
    downloader = build_downloader(env)
    try:
        assert downloader._cleaner is not None and downloader._cleaner.max_age_s == 2 * 3600
    finally:
        downloader.close()


def test_the_uploader_needs_no_cache_directory(fake, tmp_path: Path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where CACHE_DIR points")
    worker = build_uploader(environment(tmp_path, fake, CACHE_DIR=str(blocked)))
    worker.close()
