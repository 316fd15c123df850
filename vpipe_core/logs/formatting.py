"""The line formats: one redacted JSON object per record, or a human-readable logfmt line."""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

import orjson

from vpipe_core.lineage.carry import parent_of
from vpipe_core.lineage.traceparent import trace_id_of
from vpipe_core.logs.redact import redact
from vpipe_core.logs.trace import current_record, current_trace_id, inline_record

_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)))
# Any other record attribute came from `extra=` (`trace_id` is rendered as a fixed field).
_NOT_EXTRA_FIELDS = _RECORD_ATTRIBUTES | {
    "message",
    "asctime",
    "taskName",
    "trace_id",
    "w3c_trace_id",
}


def _iso_timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def _handled_record() -> Any:
    record = current_record.get()
    return record if record is not None else inline_record.get()


def _trace_id(record: logging.LogRecord) -> str | None:
    """The domain's own trace id (its events' id, set by the domain): the handled record's
    key."""
    explicit: str | None = record.__dict__.get("trace_id")
    if explicit is not None:
        return explicit
    trace_id = current_trace_id.get()
    if trace_id is not None:
        return trace_id
    handled = _handled_record()
    key = handled.key if handled is not None else None
    return key.decode("utf-8", "replace") if key is not None else None


def _w3c_trace_id(record: logging.LogRecord) -> str | None:
    """The W3C trace id of the handled record's `traceparent` (DEPLOYMENT.md, "Follow one
    event")."""
    explicit: str | None = record.__dict__.get("w3c_trace_id")
    if explicit is not None:
        return explicit
    handled = _handled_record()
    return trace_id_of(parent_of(handled)) if handled is not None else None


def record_extras(record: logging.LogRecord) -> dict[str, Any]:
    """The fields passed with `extra=` (everything that is not a standard LogRecord field)."""
    return {key: value for key, value in vars(record).items() if key not in _NOT_EXTRA_FIELDS}


def _exception_fields(record: logging.LogRecord) -> dict[str, str] | None:
    if not record.exc_info or record.exc_info[1] is None:
        return None
    exc_type, exc, tb = record.exc_info
    return {
        "type": exc_type.__name__ if exc_type else type(exc).__name__,
        "message": str(exc),
        "stack": "".join(traceback.format_exception(exc_type, exc, tb)),
    }


def _dumps(payload: dict[str, Any]) -> str:
    try:
        return orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        # Values orjson rejects even with `default` (e.g. integers beyond 64 bits, lone
        # surrogates): fall back to their escaped text rather than losing the line.
        return orjson.dumps({key: _plain_text(value) for key, value in payload.items()}).decode()


def _plain_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


class JsonFormatter(logging.Formatter):
    """One redacted JSON object per record with every extra field."""

    def __init__(self, *, worker_id: str, domain: str, host: str | None = None) -> None:
        super().__init__()
        self.worker_id = worker_id
        self.domain = domain
        self.host = host

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": _iso_timestamp(record),
            "level": record.levelname,
            "worker_id": self.worker_id,
            "domain": self.domain,
            "logger": record.name,
            "msg": record.getMessage(),
            "trace_id": _trace_id(record),
            "w3c_trace_id": _w3c_trace_id(record),
        }
        if self.host:
            payload["host"] = self.host
        for key, value in record_extras(record).items():
            # The fixed fields keep their meaning; a clashing extra is kept under another name.
            payload[f"extra_{key}" if key in payload else key] = value
        exception = _exception_fields(record)
        if exception is not None:
            payload["exception"] = exception
        if record.stack_info:
            payload["stack_info"] = record.stack_info
        return redact(_dumps(payload))


def _logfmt_value(value: Any) -> str:
    text = str(value)
    if not text or any(char.isspace() or char == '"' for char in text):
        return orjson.dumps(text).decode()
    return text


class HumanFormatter(logging.Formatter):
    """`HH:MM:SS LEVEL worker_id logger: msg key=value...` (UTC), redacted."""

    def __init__(self, *, worker_id: str) -> None:
        super().__init__()
        self.worker_id = worker_id

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.gmtime(record.created))
        fields = {
            "trace_id": _trace_id(record),
            "w3c_trace_id": _w3c_trace_id(record),
            **record_extras(record),
        }
        pairs = "".join(
            f" {key}={_logfmt_value(value)}" for key, value in fields.items() if value is not None
        )
        line = f"{clock} {record.levelname} {self.worker_id} {record.name}: {record.getMessage()}"
        line += pairs
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return redact(line)
