"""`claimx-downloader` (claimx.md §10.1) built by its `build(ctx)`, against the fake ClaimX API:
file-service links (302 → S3-like path) and S3 links, refreshes through E2, the failure rules."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from transfer_support import build_downloader, decoded, download_task, environment, media_items
from transfer_support import record as task_record

from vpipe_claimx.links import link_expiry
from vpipe_core.outcome import Category, Dead, Done, Retry
from vpipe_testing.claimx.fake_api import FakeClaimxApi, Fault

SAME_NAME = ("98810452", "98810467")  # both IMG_0001.jpg
VIDEO = "98810473"  # a direct S3 link
E2 = r"/export/project/5517342/media$"
FILE_SERVICE = r"^/cxfileservice/get/"


@pytest.fixture
def fake() -> Iterator[FakeClaimxApi]:
    with FakeClaimxApi() as server:
        yield server


@pytest.fixture
def worker(fake: FakeClaimxApi, tmp_path: Path) -> Iterator[Any]:
    built = build_downloader(environment(tmp_path, fake))
    yield built
    built.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_two_media_with_the_same_name_get_their_own_staged_files(fake, worker, tmp_path: Path):
    items = media_items(fake, *SAME_NAME)
    cached = []
    for offset, media_id in enumerate(SAME_NAME):
        outcome = worker.handle(task_record(download_task(items[media_id]), offset=offset))
        assert isinstance(outcome, Done)
        cached.append(decoded(outcome.outputs[0]))
    store = tmp_path / "onelake" / "claimx"
    paths = [store / message["staged_path"] for message in cached]
    assert len(set(paths)) == 2 and all(p.name.endswith(".vpipe-staged") for p in paths)
    assert not any(path.is_file() for path in (tmp_path / "cache").rglob("*")), "none kept"
    assert [sha256(p.read_bytes()) for p in paths] == [fake.file_sha256(m) for m in SAME_NAME]
    assert [m["blob_path"] for m in cached] == [
        "5517342/media/98810452_IMG_0001.jpg",
        "5517342/media/98810467_IMG_0001.jpg",
    ]
    assert cached[0]["content_type"] == "image/jpeg" and cached[0]["refresh_count"] == 0
    assert fake.count(E2) == 1, "only the call that listed the media"


def test_cached_message_has_the_task_and_the_file_fields(fake, worker):
    item = media_items(fake, VIDEO)[VIDEO]
    task = download_task(item)
    outcome = worker.handle(task_record(task, vpipe_attempt="1"))
    message = decoded(outcome.outputs[0])
    assert {k: message[k] for k in task} == {**task, "retry_count": 1}
    assert message["bytes_downloaded"] == len(fake.file_bytes(VIDEO))
    assert message["http_status"] == 200 and message["downloaded_at"].endswith("Z")
    assert (outcome.outputs[0].key, dict(outcome.outputs[0].headers)) == (
        b"evt-1",
        {"trace_id": b"evt-1", "media_id": VIDEO.encode()},
    )


def test_an_expired_link_is_refreshed_once_before_any_request(fake, worker):
    fake.expire_links(1)
    item = media_items(fake, SAME_NAME[0])[SAME_NAME[0]]
    stale = item["fullDownloadLink"]
    fake.reset_counts()
    outcome = worker.handle(task_record(download_task(item)))
    assert isinstance(outcome, Done)
    message = decoded(outcome.outputs[0])
    assert fake.count(E2) == 1
    assert fake.requests[0].query == {"mediaIds": SAME_NAME[0]}, "E2 asked for this media only"
    assert not any(
        r.path.startswith("/cxfileservice") and stale.endswith(r.query.get("sign", "-"))
        for r in fake.requests
    ), "the stale link was never requested"
    assert message["refresh_count"] == 1 and message["download_url"] != stale
    assert message["expires_at"] is not None


def test_403_from_the_file_service_refreshes_the_link(fake, worker):
    item = media_items(fake, SAME_NAME[0])[SAME_NAME[0]]
    fake.reset_counts()
    fake.inject(FILE_SERVICE, Fault.http(403), times=1)
    outcome = worker.handle(task_record(download_task(item)))
    assert isinstance(outcome, Done)
    assert fake.count(E2) == 1 and fake.count(FILE_SERVICE) == 2
    assert decoded(outcome.outputs[0])["refresh_count"] == 1


def test_403_from_s3_refreshes_the_link(fake, worker):
    item = media_items(fake, VIDEO)[VIDEO]
    fake.reset_counts()
    fake.inject(r"^/s3/", Fault.http(403), times=1)
    assert isinstance(worker.handle(task_record(download_task(item))), Done)
    assert fake.count(E2) == 1


def test_still_403_after_a_refresh_is_permanent(fake, worker):
    item = media_items(fake, SAME_NAME[0])[SAME_NAME[0]]
    fake.reset_counts()
    fake.inject(FILE_SERVICE, Fault.http(403), times=None)
    outcome = worker.handle(task_record(download_task(item)))
    assert isinstance(outcome, Dead) and outcome.category is Category.PERMANENT
    result = decoded(outcome.outputs[0])
    assert result["status"] == "failed_permanent" and result["url_refresh_attempted"] is True
    assert result["http_status"] == 403 and "after a link refresh" in result["error_message"]
    assert fake.count(E2) == 1, "one refresh, then permanent"


def test_media_gone_from_e2_is_dead_with_refresh_attempted(fake, worker):
    fake.expire_links(1)
    item = media_items(fake, SAME_NAME[0])[SAME_NAME[0]]
    gone = download_task(item, media_id="98810499", blob_path="5517342/media/98810499_x.jpg")
    outcome = worker.handle(task_record(gone))
    assert isinstance(outcome, Dead) and outcome.category is Category.PERMANENT
    result = decoded(outcome.outputs[0])
    assert result["url_refresh_attempted"] is True and "gone" in result["error_message"]
    assert result["media_id"] == "98810499" and result["status"] == "failed_permanent"


def test_e2_404_is_dead(fake, worker):
    fake.expire_links(1)
    item = media_items(fake, SAME_NAME[0])[SAME_NAME[0]]
    outcome = worker.handle(task_record(download_task(item, project_id="5520917")))
    assert isinstance(outcome, Dead)
    result = decoded(outcome.outputs[0])
    assert (result["http_status"], result["url_refresh_attempted"]) == (404, True)


def test_e2_transient_error_is_retried(fake, worker):
    fake.expire_links(1)
    item = media_items(fake, SAME_NAME[0])[SAME_NAME[0]]
    fake.inject(E2, Fault.http(503, retry_after=120))
    outcome = worker.handle(task_record(download_task(item)))
    assert isinstance(outcome, Retry) and outcome.category is Category.TRANSIENT
    assert outcome.not_before is not None
    assert outcome.not_before >= datetime.now(UTC) + timedelta(seconds=100)
    exhausted = decoded(outcome.if_exhausted[0])
    assert exhausted["status"] == "failed_exhausted" and exhausted["url_refresh_attempted"]


def test_downloads_never_send_the_api_authorization(fake, worker):
    items = media_items(fake, SAME_NAME[0], VIDEO)
    fake.reset_counts()
    for offset, item in enumerate(items.values()):
        worker.handle(task_record(download_task(item), offset=offset))
    file_requests = [r for r in fake.requests if not r.path.startswith("/service/")]
    assert len(file_requests) == 3  # file service + its S3 hop, and the direct S3 link
    assert all("authorization" not in r.headers for r in file_requests)


def test_every_redirect_hop_passes_the_allow_list(fake, worker):
    item = media_items(fake, SAME_NAME[0])[SAME_NAME[0]]
    elsewhere = f"http://localhost:{fake.port}/s3/claimxperience/media/x.jpg"
    fake.inject(FILE_SERVICE, Fault(status=302, headers={"Location": elsewhere}))
    fake.reset_counts()
    outcome = worker.handle(task_record(download_task(item)))
    assert isinstance(outcome, Dead) and "not allowed" in outcome.error
    assert fake.count(r"^/s3/") == 0


def test_a_media_already_handed_off_is_not_downloaded_again(fake, worker):
    item = media_items(fake, VIDEO)[VIDEO]
    first = task_record(download_task(item))
    worker.handle(first)
    worker.on_commit({(first.topic, first.partition): first.offset + 1})
    fake.reset_counts()
    again = worker.handle(task_record(download_task(item, source_event_id="evt-2"), offset=1))
    assert isinstance(again, Done) and again.outputs == () and fake.requests == []
    replay = worker.handle(task_record(download_task(item), offset=2, vpipe_replay="1"))
    assert len(replay.outputs) == 2 and fake.count(r"^/s3/") == 1


def test_invalid_tasks_are_dead(worker):
    bad = download_task({"mediaID": 1, "fullDownloadLink": "x"}, media_id="12ab")
    outcome = worker.handle(task_record(bad))
    assert isinstance(outcome, Dead) and "media_id" in outcome.error


def test_link_expiry_of_both_link_kinds():
    file_service = (
        "https://h/cxfileservice/get/x?filename=a.jpg&systemDate=1770114161509&expires=86400000"
    )
    s3 = "https://h/m.mp4?X-Amz-Date=20260203T103107Z&X-Amz-Expires=3600&X-Amz-Signature=s"
    assert link_expiry(file_service) == datetime(2026, 2, 4, 10, 22, 41, 509000, tzinfo=UTC)
    assert link_expiry(s3) == datetime(2026, 2, 3, 11, 31, 7, tzinfo=UTC)
    assert link_expiry("https://h/a.jpg") is None


def test_settings_reach_the_worker(fake, tmp_path: Path):
    env = environment(tmp_path, fake, CLAIMX_URL_MAX_REFRESHES="0", CLAIMX_DOWNLOAD_CONCURRENCY="7")
    worker = build_downloader(env)
    try:
        assert worker.concurrency == 7
        fake.expire_links(1)
        item = media_items(fake, SAME_NAME[0])[SAME_NAME[0]]
        fake.reset_counts()
        outcome = worker.handle(task_record(download_task(item)))
    finally:
        worker.close()
    assert isinstance(outcome, Dead) and "expired" in outcome.error
    assert fake.count(E2) == 0, "no refresh allowed"
