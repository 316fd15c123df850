"""claimx-downloader → claimx-uploader as real `vpipe-worker` processes over Kafka, files from
the fake ClaimX API into a `file://` OneLake: same-name media both stored, an expired link
refreshed through E2, a vanished media dead with its failure result."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import orjson
from transfer_support import download_task, media_items

from vpipe_testing.attachments import allow_attachments_from
from vpipe_testing.claimx.fake_api import FakeClaimxApi
from vpipe_testing.kafka import produce, read_all

STORED = ("98810452", "98810467", "98810473", "98810481")
E2 = r"/export/project/5517342/media$"


def test_media_flow_from_links_to_onelake(claimx_kafka, start_worker, tmp_path: Path):
    with FakeClaimxApi() as fake:
        items = media_items(fake, *STORED[:3])
        fake.expire_links(1)  # the next E2 answer carries expired links
        stale = media_items(fake, "98810481")["98810481"]
        gone = {**stale, "mediaID": "98810499", "mediaName": "vanished.pdf"}
        tasks = [download_task(items[m], event_id=f"evt-{m}") for m in STORED[:3]]
        tasks += [download_task(stale, event_id="evt-pdf"), download_task(gone, event_id="evt-x")]
        fake.reset_counts()

        store = tmp_path / "onelake"
        env = {
            "CLAIMX_API_URL": fake.url,
            "CLAIMX_API_TOKEN": fake.token,
            "CLAIMX_API_SENDER_USERNAME": "tests",
            **allow_attachments_from(fake.url),
            "ONELAKE_BASE_PATH": f"file://{store}",
            "CLAIMX_DOWNLOAD_CONCURRENCY": "3",
        }
        start_worker("claimx-downloader", claimx_kafka, **env)
        start_worker("claimx-uploader", claimx_kafka, **env)
        produce(claimx_kafka, "claimx.downloads.pending", [orjson.dumps(t) for t in tasks])
        results = [
            orjson.loads(m.value())
            for m in read_all(claimx_kafka, "claimx.downloads.results", expect=5, timeout_s=90)
        ]
        e2_calls = fake.count(E2)
        sha = {media: fake.file_sha256(media) for media in STORED}

    by_media = {result["media_id"]: result for result in results}
    assert {m: by_media[m]["status"] for m in STORED} == dict.fromkeys(STORED, "completed")
    for media in STORED:
        stored = store / "claimx" / by_media[media]["blob_path"]
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha[media]
    assert by_media["98810452"]["blob_path"] != by_media["98810467"]["blob_path"]
    assert by_media["98810481"]["url_refresh_attempted"] is True
    failed = by_media["98810499"]
    assert (failed["status"], failed["url_refresh_attempted"]) == ("failed_permanent", True)
    assert e2_calls == 2, "one refresh for the expired link, one that found the media gone"
    dead = read_all(claimx_kafka, "claimx.dlq", expect=1)
    assert dict(dead[0].headers())["vpipe_error_category"] == b"permanent"
    cache = tmp_path / "cache" / "claimx"
    deadline = time.monotonic() + 30
    while list(cache.rglob("*.*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not list(cache.rglob("*.*")), "cache files removed once the results were committed"
