"""What each ClaimX event type needs from the API and which rows it yields (claimx.md §3).

The enricher plans a batch in two rounds of concurrent calls: first E1 for every event that needs
its project (always for PROJECT_CREATED/PROJECT_MFN_ADDED, else the pre-flight on a cache miss),
then the event's own call (E2, E3 or E4) for events whose E1 succeeded. `enrich` then turns the
answers of one event into its rows and download tasks, or raises `EventFailed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

import attrs

from vpipe_claimx import rows
from vpipe_claimx.api import ApiError, ClaimxApi
from vpipe_claimx.fetching import CallKey, Fetched
from vpipe_claimx.messages import download_task
from vpipe_claimx.rows import EntityRows, Row, Stamp
from vpipe_core.outcome import Category

log = logging.getLogger("vpipe.claimx.enricher")

MEDIA_FILTER_MAX = 5  # E2 with `mediaIds=` up to this many ids, else the full list (§3)

Task = Mapping[str, Any]


class EventFailed(Exception):
    """The event cannot be enriched now (TRANSIENT/AUTH: retry) or ever (PERMANENT: dead)."""

    def __init__(
        self, category: Category, message: str, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.category = category
        self.retry_after_s = retry_after_s


def failure_of(error: BaseException) -> EventFailed:
    """An API error keeps its category (§11.2); anything else is transient (§7)."""
    if isinstance(error, EventFailed):
        return error
    if isinstance(error, ApiError):
        return EventFailed(error.category, str(error), error.retry_after_s)
    return EventFailed(Category.TRANSIENT, f"unexpected {type(error).__name__}: {error}")


@attrs.frozen
class Results:
    """The answers of one batch's calls, by call key."""

    fetched: Mapping[CallKey, Fetched]

    def get(self, key: CallKey) -> Fetched:
        """The answer; its error raised as `EventFailed`."""
        found = self.fetched.get(key)
        if found is None:
            raise EventFailed(Category.TRANSIENT, f"{key[0]} for {key[1]} was not called")
        if found.error is not None:
            raise failure_of(found.error)
        return found


@attrs.define
class Enriched:
    """A successful event: its rows, its download tasks, and the project row E1 gave (if any)."""

    rows: EntityRows
    downloads: list[dict[str, Any]] = attrs.field(factory=list)
    fetched_project: Row | None = None


Build = Callable[[Task, Stamp, Results, Enriched], None]


@attrs.frozen
class EventHandler:
    """One event type: `always_e1` (cache ignored), the task fields it `requires`, its own API
    `call` (a key, or None) and `build`, which adds its rows to an `Enriched`."""

    build: Build
    always_e1: bool = False
    requires: tuple[str, ...] = ()
    call: Callable[[Task], CallKey | None] = lambda task: None


# --------------------------------------------------------------------------- builders


def _nothing_more(task: Task, stamp: Stamp, results: Results, done: Enriched) -> None:
    """PROJECT_CREATED / PROJECT_MFN_ADDED: the E1 rows are all there is."""


def _media(task: Task, stamp: Stamp, results: Results, done: Enriched) -> None:
    fetched = results.get(("E2", task["project_id"]))
    item = rows.find_media(rows.media_items(fetched.value), task["media_id"])
    if item is None:
        raise EventFailed(
            Category.PERMANENT,
            f"media {task['media_id']} is not in the E2 response for project {task['project_id']}",
        )
    row = rows.media_row(item, task["project_id"], stamp, fetched.at)
    done.rows.media.append(row)
    if row["full_download_link"]:
        done.downloads.append(download_task(task, row))
    else:
        log.info("media %s has no fullDownloadLink: no download", row["media_id"])


def _task(task: Task, stamp: Stamp, results: Results, done: Enriched) -> None:
    assignment_id = task["task_assignment_id"]
    fetched = results.get(("E3", assignment_id))
    if not isinstance(fetched.value, Mapping):
        raise EventFailed(Category.PERMANENT, f"E3 for {assignment_id}: not a JSON object")
    entities = rows.task_entities(
        fetched.value, assignment_id, task["project_id"], stamp, fetched.at
    )
    done.rows.extend(entities)


def _video(task: Task, stamp: Stamp, results: Results, done: Enriched) -> None:
    fetched = results.get(("E4", task["project_id"]))
    if fetched.value is None:
        return  # an empty report is a success without a row (§3)
    row = rows.video_collab_row(fetched.value, stamp, fetched.at)
    if row is None:
        log.warning("E4 item for project %s has no video collaboration id", task["project_id"])
        return
    done.rows.video_collab.append(row)


def _policyholder(task: Task, stamp: Stamp, results: Results, done: Enriched) -> None:
    row = rows.policyholder_row(task["event_type"], task["project_id"], task["ingested_at"], stamp)
    done.rows.projects.append(row)


def _xa_autolink_failed(task: Task, stamp: Stamp, results: Results, done: Enriched) -> None:
    row = rows.xa_autolink_failed_row(task["project_id"], task["ingested_at"], stamp)
    done.rows.projects.append(row)


def _e2(task: Task) -> CallKey:
    return ("E2", task["project_id"])


def _e3(task: Task) -> CallKey:
    return ("E3", task["task_assignment_id"])


def _e4(task: Task) -> CallKey:
    return ("E4", task["project_id"])


_FILE = EventHandler(_media, requires=("media_id",), call=_e2)
_TASK = EventHandler(_task, requires=("task_assignment_id",), call=_e3)
_VIDEO = EventHandler(_video, call=_e4)

HANDLERS: Mapping[str, EventHandler] = {
    "PROJECT_CREATED": EventHandler(_nothing_more, always_e1=True),
    "PROJECT_MFN_ADDED": EventHandler(
        _nothing_more, always_e1=True, requires=("master_file_name",)
    ),
    "PROJECT_FILE_ADDED": _FILE,
    "CUSTOM_TASK_ASSIGNED": _TASK,
    "CUSTOM_TASK_COMPLETED": _TASK,
    "POLICYHOLDER_INVITED": EventHandler(_policyholder),
    "POLICYHOLDER_JOINED": EventHandler(_policyholder),
    "VIDEO_COLLABORATION_INVITE_SENT": _VIDEO,
    "VIDEO_COLLABORATION_COMPLETED": _VIDEO,
    "PROJECT_AUTO_XA_LINKING_UNSUCCESSFUL": EventHandler(_xa_autolink_failed),
}


def handler_for(task: Task) -> EventHandler | None:
    """The handler of the task's event type; None for a type the enricher skips."""
    return HANDLERS.get(task["event_type"])


def missing_fields(task: Task, handler: EventHandler) -> list[str]:
    return [field for field in handler.requires if not task.get(field)]


# --------------------------------------------------------------------------- enrich


def enrich(task: Task, handler: EventHandler, needs_e1: bool, results: Results) -> Enriched:
    """Rows and downloads of one event from the batch's answers; `EventFailed` otherwise.
    With `needs_e1` the project row and its contacts come first (pre-flight)."""
    stamp = rows.Stamp(task["event_id"], task["ingested_at"])
    done = Enriched(EntityRows())
    if needs_e1:
        done.fetched_project = _project(task, stamp, results, done)
    handler.build(task, stamp, results, done)
    return done


def _project(task: Task, stamp: Stamp, results: Results, done: Enriched) -> Row:
    fetched = results.get(("E1", task["project_id"]))
    if not isinstance(fetched.value, Mapping) or rows.project_id_of(fetched.value) is None:
        raise EventFailed(
            Category.PERMANENT, f"E1 for project {task['project_id']} returned no projectId"
        )
    mfn = task.get("master_file_name") if task["event_type"] == "PROJECT_MFN_ADDED" else None
    entities = rows.project_entities(fetched.value, stamp, fetched.at, mfn)
    done.rows.extend(entities)
    return entities.projects[0]


# --------------------------------------------------------------------------- API calls


def api_call(
    api: ClaimxApi, key: CallKey, wanted_media: Mapping[str, Collection[str]]
) -> Callable[[], Any]:
    """The client call behind a key. E2 asks only for the batch's media of the project when
    there are at most `MEDIA_FILTER_MAX` of them, else for the full list."""
    endpoint, target = key
    if endpoint == "E1":
        return lambda: api.project(target)
    if endpoint == "E2":
        media_ids = sorted(wanted_media.get(target, ()))
        filtered = media_ids if 0 < len(media_ids) <= MEDIA_FILTER_MAX else None
        return lambda: api.media(target, filtered)
    if endpoint == "E3":
        return lambda: api.task_assignment(target)
    if endpoint == "E4":
        return lambda: api.video_collaboration(target)
    raise ValueError(f"unknown call {key!r}")
