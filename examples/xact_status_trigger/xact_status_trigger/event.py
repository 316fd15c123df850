"""What the plugin reads from the context, and the notification it builds from it (xact.md §9).

Fields are read defensively: first the context's ``extras`` (set by the XACT enricher), then the
enrichment task (xact.md §5.1); a field found in neither is ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from vpipe_core.plugins import EnrichmentContext
from xact_status_trigger import PLUGIN_NAME, __version__

MISSING_TEXT = "-"


def utc_text(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (xact.md §1)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(value: Any) -> str | None:
    """Ids are strings; a number (never a boolean) becomes its text, anything else ``None``."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _field(ctx: EnrichmentContext, name: str) -> str | None:
    """``extras[name]`` (or a context attribute of that name), else ``task[name]``."""
    found = _text(ctx.get(name))
    return found if found is not None else _text(ctx.get(f"task.{name}"))


def _attachment_count(ctx: EnrichmentContext) -> int:
    """The enricher's count of accepted URLs; failing that, the length of a URL list."""
    count = ctx.get("attachment_count")
    if isinstance(count, int) and not isinstance(count, bool):
        return count
    for path in ("attachments", "task.attachments"):
        urls = ctx.get(path)
        if isinstance(urls, Sequence) and not isinstance(urls, (str, bytes)):
            return len(urls)
    return 0


def _timestamp(ctx: EnrichmentContext) -> str | None:
    """The event's original time, as the task carries it."""
    value = ctx.get("task.original_timestamp")
    if isinstance(value, datetime):
        return utc_text(value if value.tzinfo else value.replace(tzinfo=UTC))
    return value if isinstance(value, str) else None


@attrs.frozen
class StatusEvent:
    """The fields of one XACT event the triggers use."""

    event_id: str
    trace_id: str | None
    event_type: str
    status_subtype: str
    assignment_id: str | None
    estimate_version: str | None
    attachment_count: int
    timestamp: str | None
    domain: str
    stage: str

    @classmethod
    def from_context(cls, ctx: EnrichmentContext) -> StatusEvent:
        return cls(
            event_id=ctx.event_id,
            trace_id=_field(ctx, "trace_id"),
            event_type=ctx.event_type,
            status_subtype=_field(ctx, "status_subtype") or ctx.event_type,
            assignment_id=_field(ctx, "assignment_id"),
            estimate_version=_field(ctx, "estimate_version"),
            attachment_count=_attachment_count(ctx),
            timestamp=_timestamp(ctx),
            domain=ctx.domain,
            stage=ctx.stage,
        )

    def notification(self, triggered_at: datetime) -> dict[str, Any]:
        """The record published and POSTed for a matching trigger."""
        return {
            "event_id": self.event_id,
            "trace_id": self.trace_id,
            "event_type": self.event_type,
            "status_subtype": self.status_subtype,
            "assignment_id": self.assignment_id,
            "estimate_version": self.estimate_version,
            "attachment_count": self.attachment_count,
            "timestamp": self.timestamp,
            "domain": self.domain,
            "stage": self.stage,
            "metadata": {
                "plugin_name": PLUGIN_NAME,
                "plugin_version": __version__,
                "triggered_at": utc_text(triggered_at),
            },
        }

    def headers(self) -> dict[str, str]:
        """Headers of the webhook request (xact.md §9)."""
        return {
            "x-plugin-name": PLUGIN_NAME,
            "x-status": self.status_subtype,
            "x-event-type": self.event_type,
        }

    def record_headers(self) -> dict[str, str]:
        """Headers of the published record: §9's, and ``trace_id`` as on every XACT message."""
        trace = {"trace_id": self.trace_id} if self.trace_id is not None else {}
        return {**self.headers(), **trace}

    def template_fields(self) -> dict[str, str]:
        """What a ``log`` template may use; a missing value shows as ``-``."""
        values: dict[str, Any] = {
            "status": self.status_subtype,
            "event_id": self.event_id,
            "trace_id": self.trace_id,
            "assignment_id": self.assignment_id,
            "estimate_version": self.estimate_version,
            "attachment_count": self.attachment_count,
        }
        return {name: MISSING_TEXT if v is None else str(v) for name, v in values.items()}
