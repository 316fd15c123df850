"""Helpers for the ClaimX transfer tests: the fake API's media as download tasks, and workers
built through their real `build(ctx)` from an environment."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson

from vpipe_claimx.api import ClaimxApi
from vpipe_claimx.paths import media_blob_path, media_file_name
from vpipe_claimx.specs import downloader, uploader
from vpipe_core.config.core import CoreSettings
from vpipe_core.config.loader import load_settings
from vpipe_core.context import WorkerContext
from vpipe_core.ops.health_state import HealthState
from vpipe_core.outcome import Output
from vpipe_core.record import Record
from vpipe_core.spec import WorkerSpec
from vpipe_testing.attachments import allow_attachments_from
from vpipe_testing.claimx.fake_api import FakeClaimxApi

PROJECT = "5517342"


def media_items(fake: FakeClaimxApi, *media_ids: str) -> dict[str, dict[str, Any]]:
    """E2 items of the fixture project, by media id (links as the fake serves them now)."""
    with ClaimxApi(fake.url, fake.token, sender_username="tests") as api:
        items = api.media(PROJECT, list(media_ids) or None)
    return {str(item["mediaID"]): item for item in items}


def download_task(item: dict[str, Any], event_id: str = "evt-1", **changes: Any) -> dict:
    """The §6 `claimx.downloads.pending` value the enricher builds for a media item."""
    media_id = str(item["mediaID"])
    name = media_file_name(item.get("mediaName"), media_id, item.get("mediaType"))
    task = {
        "media_id": media_id,
        "project_id": PROJECT,
        "download_url": item["fullDownloadLink"],
        "blob_path": media_blob_path(PROJECT, media_id, name),
        "file_type": item.get("mediaType"),
        "file_name": name,
        "source_event_id": event_id,
        "expires_at": item.get("expiresAt"),
        "refresh_count": 0,
        "retry_count": 0,
        "metadata": {},
    }
    return {**task, **changes}


def record(
    value: dict, topic: str = "claimx.downloads.pending", offset: int = 0, **headers: str
) -> Record:
    encoded = [(key, str(val).encode()) for key, val in headers.items()]
    return Record(topic, 0, offset, value["source_event_id"].encode(), orjson.dumps(value), encoded)


def decoded(output: Output) -> dict[str, Any]:
    assert output.value is not None
    return dict(orjson.loads(output.value))


def context(spec: WorkerSpec, env: dict[str, str], health: HealthState | None = None) -> Any:
    state = health or HealthState()
    settings = load_settings(CoreSettings, env)
    return WorkerContext(spec, 1, spec.name, settings, env, logging.getLogger("test"), state)


def environment(tmp_path: Path, fake: FakeClaimxApi, **extra: str) -> dict[str, str]:
    return {
        "CACHE_DIR": str(tmp_path / "cache"),
        "STATE_DIR": str(tmp_path / "state"),
        "CLAIMX_API_URL": fake.url,
        "CLAIMX_API_TOKEN": fake.token,
        "CLAIMX_API_SENDER_USERNAME": "tests",
        **allow_attachments_from(fake.url),
        "ONELAKE_BASE_PATH": f"file://{tmp_path / 'onelake'}",
        **extra,
    }


def build_downloader(env: dict[str, str], health: HealthState | None = None) -> Any:
    from vpipe_claimx.download import build

    return build(context(downloader, env, health))


def build_uploader(env: dict[str, str]) -> Any:
    from vpipe_claimx.upload import build

    return build(context(uploader, env))
