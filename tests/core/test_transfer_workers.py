"""The shared download and upload workers (vpipe_core.transfer.download_worker, upload_worker)
over a minimal test domain, against a real file server, a real DFS stand-in and real files.
The download worker stages into the store, the upload worker promotes there: each gets its own
directories ("hosts"), and they share only the store.

No sleeping: in-place waits get a `wait` function that changes the world and returns.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest

from vpipe_core.ops.health_state import HealthState
from vpipe_core.outcome import Category, Dead, Done, Output, Retry
from vpipe_core.record import Record
from vpipe_core.retry.inplace import InplaceRetry
from vpipe_core.state.restore import read_partitions
from vpipe_core.state.store import KeyStore
from vpipe_core.storage import FileStore, OneLakeUploader, Store
from vpipe_core.transfer.domain import (
    CachedFile,
    Message,
    Report,
    TransferTask,
    claimed_staged_path,
    staged_path,
)
from vpipe_core.transfer.download import Downloader, DownloadResult
from vpipe_core.transfer.download_worker import DownloadOptions, DownloadWorker
from vpipe_core.transfer.policy import UrlPolicy
from vpipe_core.transfer.presigned import presigned_expiry
from vpipe_core.transfer.rules import TypeRules
from vpipe_core.transfer.space import SpaceGuard
from vpipe_core.transfer.upload_worker import MAX_REDOWNLOADS, UploadWorker
from vpipe_testing.dfs import LocalDfs
from vpipe_testing.http_files import FileServer, Route
from vpipe_testing.kafka import ensure_topics

LOCAL = frozenset({"127.0.0.1"})  # allowed, and plain http (the local servers)

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40
NOW = datetime(2026, 2, 5, tzinfo=UTC)
PENDING, CACHED, RESULTS = "tdom.downloads.pending", "tdom.downloads.cached", "tdom.results"
CHANGELOG = "tdom.downloads.pending.tdom-download.changelog"
TOKEN = "0123456789abcdef"  # the staging attempt of the messages these tests write


class SmallDomain:
    """The smallest domain: tasks are {media_id, url, name}."""

    name = "tdom"
    pending_topic, cached_topic, results_topic = PENDING, CACHED, RESULTS

    def read_task(self, raw: bytes | None) -> TransferTask:
        message = orjson.loads(raw or b"null")
        if not isinstance(message, dict) or not message.get("media_id"):
            raise ValueError("media_id missing")
        return _task(message)

    def read_cached(self, raw: bytes | None) -> CachedFile:
        message = orjson.loads(raw or b"null")
        task = _task(message)
        staged = claimed_staged_path(task, message.get("staged_path"), "tdom")
        return CachedFile(task, message["bytes"], "application/pdf", staged)

    def cached_message(
        self, task: TransferTask, fetched: DownloadResult, retry_count: int
    ) -> dict[str, Any]:
        return {
            **task.message,
            "staged_path": fetched.staged_path,
            "bytes": fetched.bytes,
            "retry_count": retry_count,
        }

    def result_message(self, message: Message, report: Report) -> dict[str, Any]:
        return {"media_id": message["media_id"], **attrs.asdict(report)}

    def task_message(self, cached: Message) -> dict[str, Any]:
        return {key: cached[key] for key in ("media_id", "url", "name")}

    def output(
        self, topic: str, message: Message, headers: Mapping[str, str] | None = None
    ) -> Output:
        encoded = [(k, v.encode()) for k, v in (headers or {}).items()]
        return Output(topic, orjson.dumps(message), str(message["media_id"]).encode(), encoded)


def _task(message: dict[str, Any]) -> TransferTask:
    media = message["media_id"]
    return TransferTask(
        media,
        message["url"],
        f"p/{media}_{message['name']}",
        f"tdom/{media}/{message['name']}",
        message,
    )


def staged(media: str = "m1", token: str = TOKEN) -> str:
    """The staged object of media `media`'s task (name a.pdf) for the staging attempt `token`."""
    return staged_path(_task({"media_id": media, "url": "", "name": "a.pdf"}), token)


STAGED = staged()


def record(value: Any, topic: str = PENDING, offset: int = 0, **headers: str) -> Record:
    raw = orjson.dumps(value) if not isinstance(value, bytes) else value
    return Record(topic, 0, offset, None, raw, [(k, v.encode()) for k, v in headers.items()])


def decoded(output: Output) -> dict[str, Any]:
    assert output.value is not None
    return dict(orjson.loads(output.value))


class World:
    """Whatever a `wait` should change before the next try, and the delays asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.reasons_while_waiting: list[list[str]] = []
        self.on_wait: Callable[[], None] = lambda: None

    def wait(self, health: HealthState) -> Callable[[float], bool]:
        def wait(delay: float) -> bool:
            self.delays.append(delay)
            self.reasons_while_waiting.append(health.not_ready_reasons())
            self.on_wait()
            return False

        return wait


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer() as files:
        yield files


@pytest.fixture
def health() -> HealthState:
    state = HealthState(inplace_alert_seconds=0)
    state.starting, state.assigned = False, 1
    state.broker_answered()
    return state


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def make_worker(
    tmp_path: Path, health: HealthState, world: World, server: FileServer, kafka_bootstrap: str
) -> Iterator[Callable[..., DownloadWorker]]:
    """A download worker on "host A": its own cache under `tmp_path`, its marks in Kafka."""
    config = {"bootstrap.servers": kafka_bootstrap, "group.id": "tdom-download.restore"}
    ensure_topics(kafka_bootstrap, [CHANGELOG])

    def read(topic: str, partitions: Any, apply: Any) -> None:
        read_partitions(config, topic, partitions, apply)

    made: list[DownloadWorker] = []

    def make(**options: Any) -> DownloadWorker:
        downloader = Downloader(
            UrlPolicy(LOCAL, LOCAL, allowed_ports=frozenset({server.port})),
            TypeRules(),
            tmp_path / "cache",
            connect_timeout_s=2,
            stall_timeout_s=2,
            max_connections=2,
            clock=lambda: NOW,
            fsync=False,
        )
        worker = DownloadWorker(
            SmallDomain(),
            downloader,
            options.pop("store", None) or FileStore(tmp_path / "store"),
            DownloadOptions(
                worker="tdom-download",
                concurrency=2,
                delays=options.pop("delays", (300, 600)),
                expiry_before_retry=options.pop("expiry_before_retry", presigned_expiry),
            ),
            InplaceRetry(health, wait=world.wait(health), jitter=lambda: 1.0),
            space=options.pop("space", None),
            seen=KeyStore("tdom-download", PENDING, CHANGELOG, 24 * 3600, 1000, read),
            clock=lambda: NOW,
        )
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.close()


def task(server: FileServer, name: str = "a.pdf", media: str = "m1", query: str = "") -> dict:
    return {"media_id": media, "url": server.url(f"/{name}") + query, "name": name}


def commit(worker: Any, rec: Record) -> None:
    worker.on_commit({(rec.topic, rec.partition): rec.offset + 1})


# -- download -------------------------------------------------------------------------------


def test_download_stages_the_file_and_deletes_it_locally(
    server: FileServer, make_worker, tmp_path: Path
):
    server.add("/a.pdf", Route(body=PDF, content_type="application/pdf"))
    outcome = make_worker().handle(record(task(server), offset=4))
    assert isinstance(outcome, Done)
    cached, mark = outcome.outputs
    message = decoded(cached)
    assert cached.topic == CACHED
    assert (mark.topic, mark.key, mark.partition) == (CHANGELOG, b"m1", 0), "the task's partition"
    assert decoded(mark)["offset"] == 4
    assert message["staged_path"].startswith("p/.") and message["staged_path"].endswith(
        ".vpipe-staged"
    )
    assert (tmp_path / "store" / message["staged_path"]).read_bytes() == PDF
    assert not (tmp_path / "cache" / "tdom" / "m1").exists(), "the local file is gone at once"
    assert list((tmp_path / "cache" / "tmp").iterdir()) == [], "no part file left"


def test_a_media_handed_off_within_the_window_is_not_downloaded_again(server, make_worker):
    server.add("/a.pdf", Route(body=PDF, content_type="application/pdf"))
    worker = make_worker()
    first = record(task(server), offset=0)
    assert isinstance(worker.handle(first), Done)
    again = worker.handle(record(task(server), offset=0))
    assert isinstance(again, Done) and len(again.outputs) == 2, "the same task: not its duplicate"
    skipped = worker.handle(record(task(server), offset=2))
    assert isinstance(skipped, Done) and skipped.outputs == ()
    assert len(server.requests) == 2


def test_dlq_replays_and_redownloads_bypass_dedup(server, make_worker):
    server.add("/a.pdf", Route(body=PDF, content_type="application/pdf"))
    worker = make_worker()
    first = record(task(server))
    worker.handle(first)
    commit(worker, first)
    replayed = worker.handle(record(task(server), offset=1, vpipe_replay="1"))
    redownload = worker.handle(record(task(server), offset=2, vpipe_redownload="2"))
    assert isinstance(replayed, Done) and len(replayed.outputs) == 2
    assert isinstance(redownload, Done)
    assert dict(redownload.outputs[0].headers or []) == {"vpipe_redownload": b"2"}, "carried"
    assert len(server.requests) == 3


def test_permanent_failure_is_dead_with_a_failed_permanent_result(server, make_worker):
    server.add("/a.pdf", Route(status=404))
    outcome = make_worker().handle(record(task(server)))
    assert isinstance(outcome, Dead) and outcome.category is Category.PERMANENT
    (result,) = outcome.outputs
    assert result.topic == RESULTS
    assert decoded(result) | {"error_message": "-"} == {
        "media_id": "m1",
        "status": "failed_permanent",
        "retry_count": 0,
        "http_status": 404,
        "bytes": 0,
        "error_category": "permanent",
        "error_message": "-",
        "url_refresh_attempted": False,
    }


def test_a_name_too_long_for_the_disk_is_dead_before_downloading(server, make_worker):
    name = "a" * 300 + ".pdf"
    server.add(f"/{name}", Route(body=PDF, content_type="application/pdf"))
    outcome = make_worker().handle(record(task(server, name=name)))
    assert isinstance(outcome, Dead) and outcome.category is Category.PERMANENT
    assert "over 255 bytes" in decoded(outcome.outputs[0])["error_message"]
    assert server.requests == []


def test_transient_failure_retries_with_an_exhausted_result(server, make_worker):
    server.add("/a.pdf", Route(status=503, headers={"Retry-After": "900"}))
    outcome = make_worker().handle(record(task(server), vpipe_attempt="1"))
    assert isinstance(outcome, Retry) and outcome.category is Category.TRANSIENT
    assert outcome.not_before == NOW + timedelta(seconds=900)
    (exhausted,) = outcome.if_exhausted
    assert decoded(exhausted)["status"] == "failed_exhausted"
    assert decoded(exhausted)["retry_count"] == 2


def amz(signed: datetime, expires_s: int) -> str:
    return f"?X-Amz-Date={signed:%Y%m%dT%H%M%SZ}&X-Amz-Expires={expires_s}"


def test_a_link_expiring_before_the_next_tier_is_dead_now(server, make_worker):
    server.add("/a.pdf", Route(status=500))
    expiring = task(server, query=amz(NOW, 200))  # the first tier is due in 300 s
    outcome = make_worker().handle(record(expiring))
    assert isinstance(outcome, Dead) and outcome.category is Category.PERMANENT
    assert "url expires before retry" in outcome.error
    assert decoded(outcome.outputs[0])["status"] == "failed_permanent"


def test_a_link_valid_past_the_next_tier_is_retried(server, make_worker):
    server.add("/a.pdf", Route(status=500))
    outcome = make_worker().handle(record(task(server, query=amz(NOW, 3600))))
    assert isinstance(outcome, Retry)


def test_refreshable_links_are_not_dead_early(server, make_worker):
    server.add("/a.pdf", Route(status=500))
    worker = make_worker(expiry_before_retry=None)
    assert isinstance(worker.handle(record(task(server, query=amz(NOW, 200)))), Retry)


def test_the_last_failure_is_left_to_the_router(server, make_worker):
    server.add("/a.pdf", Route(status=500))
    outcome = make_worker().handle(record(task(server, query=amz(NOW, 200)), vpipe_attempt="2"))
    assert isinstance(outcome, Retry), "tiers exhausted: the router makes it failed_exhausted"


def test_invalid_task_is_dead(make_worker):
    outcome = make_worker().handle(record(b"not json"))
    assert isinstance(outcome, Dead) and "invalid download task" in outcome.error


def statvfs_with(free_ratio: list[float]) -> Callable[[Path], Any]:
    def statvfs(_: Path) -> Any:
        return os.statvfs_result((4096, 4096, 1000, 0, int(1000 * free_ratio[0]), 0, 0, 0, 0, 255))

    return statvfs


def test_disk_full_waits_in_place_and_reports_disk_full(
    server, make_worker, tmp_path: Path, health: HealthState, world: World
):
    server.add("/a.pdf", Route(body=PDF, content_type="application/pdf"))
    free = [0.01]
    space = SpaceGuard(tmp_path / "cache", health, statvfs=statvfs_with(free))
    worker = make_worker(space=space)

    def on_wait() -> None:
        if len(world.delays) == 3:
            free[0] = 0.5

    world.on_wait = on_wait
    outcome = worker.handle(record(task(server)))
    assert isinstance(outcome, Done) and len(outcome.outputs) == 2, "cached message and mark"
    assert world.delays == [1.0, 2.0, 4.0], "backoff doubling from 1 s"
    assert all("disk_full" in reasons for reasons in world.reasons_while_waiting)
    assert all("inplace_retry" in reasons for reasons in world.reasons_while_waiting)
    assert len(server.requests) == 1, "no request while the disk was full"
    assert health.not_ready_reasons() == []


def test_readiness_follows_the_disk_while_no_download_runs(tmp_path: Path, health: HealthState):
    free = [0.5]
    SpaceGuard(tmp_path / "cache", health, statvfs=statvfs_with(free))
    assert "disk_full" not in health.not_ready_reasons()
    free[0] = 0.01
    assert "disk_full" in health.not_ready_reasons()
    free[0] = 0.2
    assert "disk_full" not in health.not_ready_reasons()


def test_local_disk_error_retries_in_place_without_consuming_tiers(
    server, make_worker, tmp_path: Path, world: World
):
    server.add("/a.pdf", Route(body=PDF, content_type="application/pdf"))
    blocker = tmp_path / "cache" / "tmp"  # a file where the partial-download directory goes
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    world.on_wait = blocker.unlink
    outcome = make_worker().handle(record(task(server)))
    assert isinstance(outcome, Done) and world.delays == [1.0]


def test_stop_ends_an_in_place_wait(server, make_worker, tmp_path: Path, world: World):
    server.add("/a.pdf", Route(body=PDF, content_type="application/pdf"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "tmp").write_text("in the way")
    worker = make_worker()
    world.on_wait = worker._inplace.stop
    outcome = worker.handle(record(task(server)))
    assert isinstance(outcome, Retry), "left to the loop, which no longer routes it"
    assert world.delays == [1.0]


def test_a_revoked_partition_ends_an_in_place_wait(server, make_worker, tmp_path: Path, world):
    from confluent_kafka import TopicPartition

    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "tmp").write_text("in the way")
    worker = make_worker()
    world.on_wait = lambda: worker.on_revoke([TopicPartition(PENDING, 0)])
    assert isinstance(worker.handle(record(task(server))), Retry)
    worker.on_assign([TopicPartition(PENDING, 0)])
    world.on_wait = lambda: (tmp_path / "cache" / "tmp").unlink()
    server.add("/a.pdf", Route(body=PDF, content_type="application/pdf"))
    assert isinstance(worker.handle(record(task(server))), Done)


# -- upload ---------------------------------------------------------------------------------


def cached_record(offset: int = 0, media: str = "m1", **headers: str) -> Record:
    message = {
        "media_id": media,
        "url": "http://127.0.0.1/a.pdf",
        "name": "a.pdf",
        "staged_path": STAGED,
        "bytes": len(PDF),
        "retry_count": 1,
    }
    return record(message, CACHED, offset, **headers)


@pytest.fixture
def make_uploader(
    tmp_path: Path, health: HealthState, world: World
) -> Iterator[Callable[..., UploadWorker]]:
    """An upload worker on "host B": no cache directory, its own state directory."""
    made: list[UploadWorker] = []

    def make(store: Any = None) -> UploadWorker:
        worker = UploadWorker(
            SmallDomain(),
            store or FileStore(tmp_path / "store"),
            2,
            InplaceRetry(health, wait=world.wait(health), jitter=lambda: 1.0),
        )
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.close()


def staged_file(root: Path, relative: str = STAGED) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PDF)
    return path


def test_upload_promotes_and_reports_completed(make_uploader, tmp_path: Path):
    staged = staged_file(tmp_path / "store")
    worker = make_uploader()
    rec = cached_record(offset=7, vpipe_attempt="1")
    outcome = worker.handle(rec)
    assert isinstance(outcome, Done)
    result = decoded(outcome.outputs[0])
    assert (result["status"], result["bytes"], result["retry_count"]) == ("completed", len(PDF), 2)
    assert (tmp_path / "store" / "p" / "m1_a.pdf").read_bytes() == PDF
    assert not staged.exists(), "promoted, not copied"


def test_a_redelivered_cached_message_after_promotion_is_completed_again(
    make_uploader, tmp_path: Path
):
    staged_file(tmp_path / "store")
    worker = make_uploader()
    first = worker.handle(cached_record(offset=1))
    again = worker.handle(cached_record(offset=1))
    assert isinstance(first, Done) and isinstance(again, Done)
    assert [decoded(o)["status"] for o in (*first.outputs, *again.outputs)] == ["completed"] * 2
    assert decoded(again.outputs[0])["bytes"] == len(PDF)
    files = [path for path in (tmp_path / "store").rglob("*") if path.is_file()]
    assert files == [tmp_path / "store" / "p" / "m1_a.pdf"]


def test_the_message_never_names_the_object_to_promote(make_uploader, tmp_path: Path):
    other = staged_file(tmp_path / "store", staged("m2"))
    rec = record({**decoded_value(cached_record()), "staged_path": str(other)}, CACHED)
    outcome = make_uploader().handle(rec)
    assert isinstance(outcome, Done)
    assert outcome.outputs[0].topic == PENDING, "this task's own staged file is missing: download"
    assert other.read_bytes() == PDF


def decoded_value(rec: Record) -> dict[str, Any]:
    return dict(orjson.loads(rec.value or b"null"))


@pytest.mark.parametrize("media", ["../../..", "..", "m1/../../x", ""])
def test_ids_that_escape_the_staging_directory_are_dead(make_uploader, media):
    outcome = make_uploader().handle(cached_record(media=media))
    assert isinstance(outcome, Dead)
    assert "unsafe cache path" in outcome.error or "media_id" in outcome.error


def test_a_staging_directory_linked_out_of_the_store_is_refused(make_uploader, tmp_path: Path):
    outside = staged_file(tmp_path / "elsewhere", STAGED.rpartition("/")[2])
    (tmp_path / "store").mkdir(parents=True)
    (tmp_path / "store" / "p").symlink_to(tmp_path / "elsewhere")
    outcome = make_uploader().handle(cached_record(offset=5))
    assert isinstance(outcome, Dead) and "via a link" in outcome.error
    assert decoded(outcome.outputs[0])["status"] == "failed_permanent"
    assert outside.read_bytes() == PDF


def test_a_lost_staged_file_sends_the_task_back_to_download(make_uploader):
    outcome = make_uploader().handle(cached_record(vpipe_redownload="1"))
    assert isinstance(outcome, Done)
    (task_out,) = outcome.outputs
    assert task_out.topic == PENDING
    assert decoded(task_out) == {"media_id": "m1", "url": "http://127.0.0.1/a.pdf", "name": "a.pdf"}
    assert dict(task_out.headers or []) == {"vpipe_redownload": b"2"}


def test_repeatedly_lost_staged_files_end_dead(make_uploader):
    outcome = make_uploader().handle(cached_record(vpipe_redownload=str(MAX_REDOWNLOADS)))
    assert isinstance(outcome, Dead)
    assert decoded(outcome.outputs[0])["status"] == "failed_permanent"


@pytest.fixture
def dfs(tmp_path: Path) -> Iterator[LocalDfs]:
    with LocalDfs(tmp_path / "dfs", filesystems=["ws"]) as server:
        yield server


def dfs_store(dfs: LocalDfs) -> OneLakeUploader:
    return OneLakeUploader(dfs.service_client, "ws", "Files", timeout_s=10)


def test_storage_misconfiguration_waits_in_place(dfs: LocalDfs, make_uploader, world: World):
    staged_file(dfs.local_path("ws", "Files"))
    dfs.fail_next(2, 403, operation="rename")
    outcome = make_uploader(dfs_store(dfs)).handle(cached_record())
    assert isinstance(outcome, Done) and world.delays == [1.0, 2.0]
    assert any("inplace_retry" in reasons for reasons in world.reasons_while_waiting)
    assert dfs.local_path("ws", "Files/p/m1_a.pdf").read_bytes() == PDF


def test_transient_storage_errors_go_to_the_tiers(dfs: LocalDfs, make_uploader):
    staged = staged_file(dfs.local_path("ws", "Files"))
    dfs.fail_next(10, 503)
    outcome = make_uploader(dfs_store(dfs)).handle(cached_record())
    assert isinstance(outcome, Retry) and outcome.category is Category.TRANSIENT
    assert decoded(outcome.if_exhausted[0])["status"] == "failed_exhausted"
    assert staged.exists()


def test_an_invalid_path_is_dead_with_a_failed_permanent_result(dfs: LocalDfs, make_uploader):
    staged_file(dfs.local_path("ws", "Files"))
    dfs.fail_next(1, 400, operation="rename")
    outcome = make_uploader(dfs_store(dfs)).handle(cached_record())
    assert isinstance(outcome, Dead)
    assert decoded(outcome.outputs[0])["status"] == "failed_permanent"


# -- download on one host, upload on another ------------------------------------------------


@pytest.fixture(params=["file", "dfs"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """A new client of the one store both hosts share (`file://` or the DFS stand-in), and
    a reader of its files."""
    if request.param == "file":
        yield lambda: FileStore(tmp_path / "store")
        return
    with LocalDfs(tmp_path / "dfs", filesystems=["ws"]) as server:
        yield lambda: dfs_store(server)


def test_a_file_downloaded_on_one_host_is_uploaded_on_another(
    server: FileServer, make_worker, make_uploader, shared_store, tmp_path: Path
):
    server.add("/a.pdf", Route(body=PDF, content_type="application/pdf"))
    download, upload = make_worker(store=shared_store()), make_uploader(shared_store())
    cached = download.handle(record(task(server)))
    assert isinstance(cached, Done)
    assert not any(path.is_file() for path in (tmp_path / "cache").rglob("*"))
    out, _mark = cached.outputs
    done = upload.handle(Record(CACHED, 0, 0, out.key, out.value, list(out.headers or [])))
    assert isinstance(done, Done)
    assert decoded(done.outputs[0])["status"] == "completed"
    assert decoded(done.outputs[0])["bytes"] == len(PDF)
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.read_bytes() == PDF]
    assert len(files) == 1 and files[0].name == "m1_a.pdf", "one stored file, nothing staged"
    assert hashlib.sha256(files[0].read_bytes()).hexdigest() == hashlib.sha256(PDF).hexdigest()


def test_the_staged_file_keeps_its_content_type_through_promotion(
    server: FileServer, make_worker, make_uploader, dfs: LocalDfs
):
    server.add("/a.pdf", Route(body=PDF, content_type="application/pdf"))
    out = make_worker(store=dfs_store(dfs)).handle(record(task(server))).outputs[0]
    make_uploader(dfs_store(dfs)).handle(Record(CACHED, 0, 0, out.key, out.value, []))
    assert dfs.content_type("ws", "Files/p/m1_a.pdf") == "application/pdf"
    assert dfs.sha256("ws", "Files/p/m1_a.pdf") == hashlib.sha256(PDF).hexdigest()


def test_transient_staging_errors_go_to_the_tiers_and_leave_no_local_file(
    server: FileServer, make_worker, dfs: LocalDfs, tmp_path: Path
):
    server.add("/a.pdf", Route(body=PDF, content_type="application/pdf"))
    worker = make_worker(store=dfs_store(dfs))
    dfs.fail_next(3, 503, operation="file")  # the create and its two SDK retries
    outcome = worker.handle(record(task(server), vpipe_attempt="1"))
    assert isinstance(outcome, Retry) and outcome.category is Category.TRANSIENT
    assert outcome.error.startswith("stage: ")
    assert decoded(outcome.if_exhausted[0])["status"] == "failed_exhausted"
    assert not any(path.is_file() for path in (tmp_path / "cache").rglob("*"))
    retried = worker.handle(record(task(server), offset=1, vpipe_attempt="2"))
    assert isinstance(retried, Done)
    staged_now = decoded(retried.outputs[0])["staged_path"]
    assert dfs.local_path("ws", f"Files/{staged_now}").read_bytes() == PDF


def test_a_misconfigured_store_waits_in_place_while_staging(
    server: FileServer, make_worker, dfs: LocalDfs, world: World
):
    server.add("/a.pdf", Route(body=PDF, content_type="application/pdf"))
    dfs.fail_next(1, 403, operation="file")
    outcome = make_worker(store=dfs_store(dfs)).handle(record(task(server)))
    assert isinstance(outcome, Done) and world.delays == [1.0]
    assert len(server.requests) == 1, "downloaded once; only the staging waited"


def test_a_staging_path_the_store_refuses_is_dead(server: FileServer, make_worker, dfs: LocalDfs):
    server.add("/a.pdf", Route(body=PDF, content_type="application/pdf"))
    dfs.fail_next(1, 400, operation="file")
    outcome = make_worker(store=dfs_store(dfs)).handle(record(task(server)))
    assert isinstance(outcome, Dead) and outcome.category is Category.PERMANENT
    assert decoded(outcome.outputs[0])["status"] == "failed_permanent"
