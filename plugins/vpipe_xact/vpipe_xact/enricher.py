"""`xact-enricher` (xact.md §9): URL allow-list, enrichment plugins, one download task per URL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from vpipe_core.context import WorkerContext
from vpipe_core.outcome import Dead, Done, Outcome, Output
from vpipe_core.plugins.plugin_set import PluginSet
from vpipe_core.plugins.types import EnrichmentContext
from vpipe_core.record import Record
from vpipe_core.transfer.policy import UrlPolicy, UrlRejected, url_policy
from vpipe_core.transfer.presigned import stored_url
from vpipe_core.transfer.settings import TransferSettings
from vpipe_xact import messages
from vpipe_xact.events import InvalidEvent
from vpipe_xact.paths import Attachment, attachments_of
from vpipe_xact.topics import DOWNLOADS, RESULTS

STAGE = "enrichment_complete"


class Enricher:
    def __init__(self, policy: UrlPolicy, plugins: PluginSet) -> None:
        self._policy = policy
        self._plugins = plugins

    def handle(self, record: Record) -> Outcome:
        try:
            task = messages.read_message(record.value, messages.TASK_FIELDS)
            attachments = attachments_of(messages.event_of_task(task))
        except (messages.InvalidMessage, InvalidEvent) as exc:
            return Dead(f"invalid enrichment task: {exc}")
        accepted, rejected = self._split(attachments)
        stage = self._plugins.run(self._context(task, accepted, rejected, record.attempt))
        outputs = list(stage.outputs)
        outputs += [self._rejection(task, a, why, record.attempt) for a, why in rejected]
        if not stage.filtered:
            outputs += [self._download(task, a, stage.headers) for a in accepted]
        return Done(tuple(outputs))

    def _split(
        self, attachments: list[Attachment]
    ) -> tuple[list[Attachment], list[tuple[Attachment, str]]]:
        accepted, rejected = [], []
        for attachment in attachments:
            try:
                self._policy.check(attachment.url, resolve=False)  # addresses: at download time
                accepted.append(attachment)
            except UrlRejected as exc:
                rejected.append((attachment, f"url not allowed: {_host(attachment.url)} ({exc})"))
        return accepted, rejected

    @staticmethod
    def _context(
        task: Mapping[str, Any],
        accepted: list[Attachment],
        rejected: list[tuple[Attachment, str]],
        attempt: int,
    ) -> EnrichmentContext:
        return EnrichmentContext(
            domain="xact",
            stage=STAGE,
            event_id=task["event_id"],
            event_type=task["status_subtype"],
            task=task,
            data=task.get("data") or {},
            attempt=attempt,
            now=datetime.now(UTC),
            extras={
                "trace_id": task["trace_id"],
                "status_subtype": task["status_subtype"],
                "assignment_id": task["assignment_id"],
                "estimate_version": task.get("estimate_version"),
                "attachments": [a.url for a in accepted],
                "rejected_attachments": [
                    {"url": stored_url(a.url), "reason": why} for a, why in rejected
                ],
                "attachment_count": len(accepted),
            },
        )

    @staticmethod
    def _download(
        task: Mapping[str, Any], attachment: Attachment, headers: Mapping[str, str]
    ) -> Output:
        message = messages.download_task(task, attachment, {"plugin_headers": dict(headers)})
        return messages.download_output(DOWNLOADS, message, headers)

    @staticmethod
    def _rejection(
        task: Mapping[str, Any], attachment: Attachment, why: str, attempt: int
    ) -> Output:
        download = messages.download_task(task, attachment, {})
        failed = messages.result(
            download,
            "failed_permanent",
            retry_count=attempt,
            error_category="permanent",
            error_message=why,
        )
        return messages.output(RESULTS, failed)


def _host(url: str) -> str:
    return urlsplit(url).hostname or "?"


def build(ctx: WorkerContext) -> Enricher:
    transfer = ctx.settings_for(TransferSettings)
    return Enricher(url_policy(transfer), ctx.plugins())
