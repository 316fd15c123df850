"""Secret shapes (security review item 11): each one is redacted by `redact()`, in a worker's log
line, in a DLQ record's error header and in a failed-table row, and the secret settings of every
settings class are redacted once a worker has started."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest

from vpipe_core.logs.redact import REDACTED, redact
from vpipe_core.logs.setup import setup_logging
from vpipe_core.outcome import Dead, Retry
from vpipe_core.record import Record
from vpipe_core.retry.envelope import ERROR
from vpipe_core.retry.router import OutcomeRouter
from vpipe_testing.kafka import produce, read_all
from vpipe_xact.messages import result
from vpipe_xact.results import failed_row, parse_result


@attrs.frozen
class Shape:
    text: str
    secret: str
    redacted: str  # what redact(text) must return


def _jwt() -> str:
    return "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLWJ5dGVz"


SHAPES = {
    "url userinfo password": Shape(
        "GET https://svc:Pa55-w0rd@files.example.com/a.pdf failed",
        "Pa55-w0rd",
        f"GET https://svc:{REDACTED}@files.example.com/a.pdf failed",
    ),
    "url userinfo password with @": Shape(
        "ftp://svc:p@ss-w0rd@host.example/x",
        "ss-w0rd",
        f"ftp://svc:{REDACTED}@host.example/x",
    ),
    "client_secret in a form body": Shape(
        "client_secret=Cl1ent-S3cret&grant_type=client_credentials",
        "Cl1ent-S3cret",
        f"client_secret={REDACTED}&grant_type=client_credentials",
    ),
    "client_secret after &": Shape(
        "grant_type=client_credentials&client_id=app&client_secret=Cl1ent-S3cret",
        "Cl1ent-S3cret",
        f"grant_type=client_credentials&client_id=app&client_secret={REDACTED}",
    ),
    "password in error text": Shape(
        "login refused: password=hunter2-x for user bob",
        "hunter2-x",
        f"login refused: password={REDACTED} for user bob",
    ),
    "password in a .env line": Shape(
        "KAFKA_SASL_PASSWORD=hunter2-x",
        "hunter2-x",
        f"KAFKA_SASL_PASSWORD={REDACTED}",
    ),
    "password in a dict repr": Shape(
        "body {'user': 'bob', 'password': 'hunter2-x'}",
        "hunter2-x",
        f"body {{'user': 'bob', 'password': '{REDACTED}'}}",
    ),
    "password in JSON": Shape(
        'body {"password": "hunter2-x", "user": "bob"}',
        "hunter2-x",
        f'body {{"password": "{REDACTED}", "user": "bob"}}',
    ),
    "refresh_token": Shape(
        "refresh failed refresh_token=rt-0123456789",
        "rt-0123456789",
        f"refresh failed refresh_token={REDACTED}",
    ),
    "id_token in a query": Shape(
        "https://app.example/cb?state=1&id_token=idt-0123456789",
        "idt-0123456789",
        f"https://app.example/cb?state=1&id_token={REDACTED}",
    ),
    "apikey in a query": Shape(
        "https://api.example/v1?apikey=ak-0123456789",
        "ak-0123456789",
        f"https://api.example/v1?apikey={REDACTED}",
    ),
    "api-key header": Shape(
        "headers api-key: ak-0123456789",
        "ak-0123456789",
        f"headers api-key: {REDACTED}",
    ),
    "X-Goog-Signature": Shape(
        "https://storage.googleapis.com/b/o.pdf?X-Goog-Algorithm=GOOG4-RSA-SHA256"
        "&X-Goog-Signature=5f1e0a9b7c&X-Goog-Expires=900",
        "5f1e0a9b7c",
        "https://storage.googleapis.com/b/o.pdf?X-Goog-Algorithm=GOOG4-RSA-SHA256"
        f"&X-Goog-Signature={REDACTED}&X-Goog-Expires=900",
    ),
    "X-Api-Key header": Shape(
        "X-Api-Key: xk-live-0123456789",
        "xk-live-0123456789",
        f"X-Api-Key: {REDACTED}",
    ),
    "X-Api-Key in a headers dict": Shape(
        "{'X-Api-Key': 'xk-live-0123456789', 'Accept': '*/*'}",
        "xk-live-0123456789",
        f"{{'X-Api-Key': '{REDACTED}', 'Accept': '*/*'}}",
    ),
    "Cookie header": Shape(
        "Cookie: session=s3ss10n-value; theme=dark",
        "s3ss10n-value",
        f"Cookie: {REDACTED}",
    ),
    "Set-Cookie header": Shape(
        "Set-Cookie: session=s3ss10n-value; HttpOnly",
        "s3ss10n-value",
        f"Set-Cookie: {REDACTED}",
    ),
    "bare JWT": Shape(
        f"token {_jwt()} rejected",
        "c2lnbmF0dXJlLWJ5dGVz",
        f"token {REDACTED} rejected",
    ),
}
SHAPE_PARAMETERS = pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))


# --- (a) redact() -----------------------------------------------------------------------------


@SHAPE_PARAMETERS
def test_redact_removes_the_secret(shape: Shape) -> None:
    assert redact(shape.text) == shape.redacted


def test_ordinary_words_near_the_new_rules_are_kept() -> None:
    text = (
        "KAFKA_SASL_PASSWORD: got '****', expected a string; password_hint=x; cookies are fine; "
        "https://host.example:8443/a?page=2 eyJ alone, apikeys listed, id_tokenizer=3"
    )
    assert redact(text) == text


# --- (b) a worker's log line ------------------------------------------------------------------


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers_before, level_before = list(root.handlers), root.level
    yield io.StringIO()
    for handler in root.handlers:
        if handler not in handlers_before:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level_before)


@SHAPE_PARAMETERS
def test_log_line_is_redacted(shape: Shape, tmp_path: Path, console: io.StringIO) -> None:
    log_file = setup_logging(
        worker="xact-download", instance=1, domain="xact", log_dir=tmp_path, console_stream=console
    )
    assert log_file is not None
    logging.getLogger("vpipe.xact.download").warning(
        "call failed: %s", shape.text, extra={"detail": shape.text}
    )

    for text in (console.getvalue(), log_file.read_text()):
        assert shape.secret not in text
        (line,) = [json.loads(line) for line in text.splitlines()]
        assert line["msg"] == f"call failed: {shape.redacted}"
        assert line["detail"] == shape.redacted


# --- (c) a DLQ record and a retry tier record -------------------------------------------------


def _error_header(headers: list[tuple[str, bytes | None]]) -> str:
    (value,) = [value for key, value in headers if key == ERROR]
    assert value is not None
    return value.decode()


@SHAPE_PARAMETERS
def test_dlq_and_tier_error_headers_are_redacted(shape: Shape) -> None:
    router = OutcomeRouter("xact", "xact-download", "xact-download-1", delays=(1,))
    record = Record("xact.downloads.pending", 0, 7, b"k", b"{}", [("x_trace", b"t")])

    (dlq,) = router.dead(record, Dead(shape.text))
    (tier,) = router.retry(record, Retry(shape.text))

    for output in (dlq, tier):
        assert _error_header(output.headers) == shape.redacted
        assert shape.secret.encode() not in b"".join(value or b"" for _, value in output.headers)


# --- (d) a failed-table row -------------------------------------------------------------------


def _download_task() -> dict[str, Any]:
    return {
        "trace_id": "t-1",
        "media_id": "m-1",
        "attachment_url": "https://files.example.com/m-1.pdf",
        "blob_path": "documentsReceived/A1/t-1/A1_m-1.pdf",
        "status_subtype": "documentsReceived",
        "file_type": "PDF",
        "assignment_id": "A1",
        "event_id": "e-1",
        "original_timestamp": "2026-02-03T08:15:00.000000Z",
    }


@SHAPE_PARAMETERS
def test_failed_row_error_message_is_redacted(shape: Shape) -> None:
    produced = result(_download_task(), "failed_permanent", retry_count=0, error_message=shape.text)
    assert produced["error_message"] == shape.redacted
    # The table's own guard, for a producer that did not redact.
    parsed = parse_result(orjson.dumps(produced | {"error_message": shape.text}))

    row = failed_row(parsed, now=parsed.created_at)

    assert row["error_message"] == shape.redacted


# --- secret settings of every settings class --------------------------------------------------


def test_a_started_worker_redacts_every_secret_setting(testdom, start_worker, tmp_path):
    client_secret = "azure-client-value-7Qx2"
    connection_string = "opaque-eventhub-connection-9Lm4"
    worker = start_worker(
        "testdom-echo",
        testdom,
        AZURE_CLIENT_SECRET=client_secret,
        EVENTHUB_CONNECTION_STRING=connection_string,
    )
    url = f"https://h.example/{client_secret}/{connection_string}"
    produce(testdom, "testdom.in", [orjson.dumps({"id": "s", "log_url": url})])
    read_all(testdom, "testdom.out", expect=1)
    worker.stop()

    logged = "".join(path.read_text() for path in (tmp_path / "logs").rglob("*.log"))
    assert "fetching https://h.example/" in logged
    for text in (logged, worker.output()):
        assert client_secret not in text and connection_string not in text
    assert f"https://h.example/{REDACTED}/{REDACTED}" in logged
