"""The ``itel-cabinet-tracking`` worker: consumes ``itel.cabinet.task.tracking``.

ASSIGNED and IN_PROGRESS tasks are only logged. For a COMPLETED task it loads the assignment
(E3 ``full=true``) and the form's photos (E2), parses the form into typed columns
(`claimx_itel_trigger.form`) and publishes ``itel.cabinet.completed``. API failures keep their
category: transient and auth errors retry through the ClaimX tiers (with Retry-After), permanent
ones go to ``claimx.dlq`` with the reason. The template id is not checked again here: the
trigger is the one place that decides which tasks are iTel tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from claimx_itel_trigger import COMPLETED_TOPIC
from claimx_itel_trigger.form import MediaRef, ParsedForm, parse_form
from vpipe_claimx.api import ApiError, ClaimxApi
from vpipe_claimx.rows.media import find_media
from vpipe_claimx.settings import ClaimxSettings
from vpipe_core.context import WorkerContext
from vpipe_core.outcome import Category, Dead, Done, Outcome, Output, Retry
from vpipe_core.record import Record

log = logging.getLogger("vpipe.itel.tracking")

COMPLETED = "COMPLETED"
TRACKED_STATUSES = frozenset({"ASSIGNED", "IN_PROGRESS", COMPLETED})
SOURCE = "vpipe.itel-cabinet-tracking"
MEDIA_FILTER_MAX = 5  # E2 with mediaIds= up to this many ids, else the whole list (claimx.md §3)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def parse_tracking(value: bytes | None) -> dict[str, Any]:
    """A tracking record; `ValueError` naming what is wrong when it cannot be used."""
    try:
        record = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise ValueError(f"not a JSON object but {type(record).__name__}")
    missing = [
        name
        for name in ("event_id", "project_id", "assignment_id", "task_status")
        if record.get(name) in (None, "")
    ]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    return record


class TrackingHandler:
    """One tracking record at a time (`handle`); a few in parallel (`concurrency`)."""

    concurrency = 4

    def __init__(self, api: ClaimxApi, clock: Callable[[], datetime] = _utc_now) -> None:
        self._api = api
        self._clock = clock

    def handle(self, record: Record) -> Outcome:
        try:
            tracking = parse_tracking(record.value)
        except ValueError as exc:
            return Dead(f"invalid iTel tracking record: {exc}")
        fields = _fields(tracking)
        status = str(tracking["task_status"])
        if status not in TRACKED_STATUSES:
            log.warning("iTel task status %s is not tracked; skipped", status, extra=fields)
            return Done()
        if status != COMPLETED:
            log.info("iTel task %s", status, extra=fields)
            return Done()
        try:
            completed = self.completed_record(tracking)
        except ApiError as exc:
            return self._failed(exc, fields)
        key = str(tracking["event_id"]).encode()
        log.info("iTel cabinet form published", extra=fields)
        return Done([Output(COMPLETED_TOPIC, orjson.dumps(completed), key)])

    def completed_record(self, tracking: Mapping[str, Any]) -> dict[str, Any]:
        """The ``itel.cabinet.completed`` record of a completed task (raises `ApiError`)."""
        assignment = self._api.task_assignment(str(tracking["assignment_id"]))
        form = parse_form(assignment)
        for problem in form.problems:
            log.warning("iTel form answer not used: %s", problem, extra=_fields(tracking))
        attachments = self._attachments(str(tracking["project_id"]), form, tracking)
        return {
            "event_id": tracking["event_id"],
            "event_timestamp": tracking.get("timestamp"),
            "assignment_id": tracking["assignment_id"],
            "project_id": tracking["project_id"],
            "task_id": tracking.get("task_id") or assignment.get("taskId"),
            "submission": form.submission,
            "attachments": attachments,
            "readable_report": list(form.report),
            "published_at": self._clock().isoformat(),
            "source": SOURCE,
        }

    def _attachments(
        self, project_id: str, form: ParsedForm, tracking: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        items = self._media(project_id, [ref.media_id for ref in form.media])
        attachments = []
        for ref in form.media:
            item = items.get(ref.media_id)
            if item is None:
                log.warning(
                    "iTel photo %s is not in the E2 response; sent without a link",
                    ref.media_id,
                    extra=_fields(tracking),
                )
            attachments.append(_attachment(ref, item or {}))
        return attachments

    def _media(self, project_id: str, media_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        wanted = list(dict.fromkeys(media_ids))
        if not wanted:
            return {}
        filtered = wanted if len(wanted) <= MEDIA_FILTER_MAX else None
        items = self._api.media(project_id, filtered)
        found = {media_id: find_media(items, media_id) for media_id in wanted}
        return {media_id: item for media_id, item in found.items() if item is not None}

    def _failed(self, error: ApiError, fields: dict[str, Any]) -> Outcome:
        log.warning("iTel tracking failed: %s", error, extra={**fields, "error": str(error)})
        if error.category == Category.PERMANENT:
            return Dead(str(error), error.category)
        not_before = None
        if error.retry_after_s:
            not_before = self._clock() + timedelta(seconds=error.retry_after_s)
        return Retry(str(error), error.category, not_before)

    def close(self) -> None:
        self._api.close()


def _attachment(ref: MediaRef, item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "media_id": ref.media_id,
        "group": ref.group,
        "question": ref.question,
        "file_name": item.get("mediaName"),
        "file_type": item.get("mediaType"),
        "download_link": item.get("fullDownloadLink"),
        "expires_at": item.get("expiresAt"),
    }


def _fields(tracking: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "event_id": tracking.get("event_id"),
        "project_id": tracking.get("project_id"),
        "assignment_id": tracking.get("assignment_id"),
        "task_status": tracking.get("task_status"),
    }


def build(ctx: WorkerContext) -> TrackingHandler:
    settings = ctx.settings_for(ClaimxSettings)
    return TrackingHandler(ClaimxApi.from_settings(settings, ctx.settings.ca_bundle, env=ctx.env))
