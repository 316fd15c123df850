from __future__ import annotations

import io
import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vpipe_core.logs.files import DailyArchiveFileHandler
from vpipe_core.logs.formatting import JsonFormatter
from vpipe_core.logs.redact import REDACTED, redact, register_secret, truncate
from vpipe_core.logs.setup import setup_logging
from vpipe_core.logs.trace import current_trace_id, inline_record, set_trace_id, trace_context
from vpipe_core.record import Record

STARTED = datetime(2026, 1, 20, 14, 30, 5, tzinfo=UTC)
PRESIGNED_S3_URL = (
    "https://bucket.s3.amazonaws.com/claims/a.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Signature=abc123&X-Amz-Credential=AKIAEXAMPLE%2F20260120%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20260120T143000Z"
)
SAS_URL = (
    "https://acct.blob.core.windows.net/media/a.jpg"
    "?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-01-21T00%3A00%3A00Z&sig=Zm9vYmFy%2Bc2ln%3D"
)


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    level_before = root.level
    yield
    for handler in root.handlers:
        if handler not in handlers_before:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level_before)


@pytest.fixture
def console() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(STARTED)


def start_logging(tmp_path: Path, console: io.StringIO, clock: FakeClock, **options: Any) -> Path:
    log_file = setup_logging(
        worker="xact-download",
        instance=3,
        domain="xact",
        log_dir=tmp_path,
        console_stream=console,
        now=clock,
        **options,
    )
    assert log_file is not None
    return log_file


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line]


def make_handler(tmp_path: Path, clock: FakeClock, **options: Any) -> DailyArchiveFileHandler:
    settings: dict[str, Any] = {"max_bytes": 10_000_000, "backup_count": 5, "retention_days": 7}
    settings.update(options)
    handler = DailyArchiveFileHandler(
        log_dir=tmp_path, domain="xact", worker="xact-download", now=clock, **settings
    )
    handler.setFormatter(JsonFormatter(worker_id="xact-download-3", domain="xact"))
    return handler


def emit(handler: logging.Handler, message: str) -> None:
    handler.handle(logging.LogRecord("vpipe.test", logging.INFO, __file__, 1, message, None, None))


# --- file naming and JSON content -------------------------------------------------------------


def test_log_file_has_the_documented_path_and_name(
    tmp_path: Path, console: io.StringIO, clock: FakeClock
) -> None:
    log_file = start_logging(tmp_path, console, clock)

    relative = log_file.relative_to(tmp_path).as_posix()
    assert re.fullmatch(r"xact/2026-01-20/xact_download_0120_1430_[a-z]+-[a-z]+\.log", relative)
    assert log_file.is_file()


def test_no_log_file_without_log_dir(console: io.StringIO) -> None:
    log_file = setup_logging(
        worker="xact-download", instance=1, domain="xact", log_dir=None, console_stream=console
    )

    logging.getLogger("vpipe.test").info("hello")

    assert log_file is None
    assert json_lines(console.getvalue())[0]["msg"] == "hello"


def test_slug_is_redrawn_when_the_file_exists(tmp_path: Path, clock: FakeClock) -> None:
    date_dir = tmp_path / "xact" / "2026-01-20"
    date_dir.mkdir(parents=True)
    (date_dir / "xact_download_0120_1430_happy-tiger.log").write_text("taken\n")
    slugs = iter(["happy-tiger", "calm-otter"])

    handler = DailyArchiveFileHandler(
        log_dir=tmp_path,
        domain="xact",
        worker="xact-download",
        max_bytes=1000,
        backup_count=1,
        retention_days=7,
        now=clock,
        draw_slug=lambda: next(slugs),
    )
    handler.close()

    assert handler.path.name == "xact_download_0120_1430_calm-otter.log"


def test_json_line_has_fixed_fields_extras_and_trace_id(
    tmp_path: Path, console: io.StringIO, clock: FakeClock
) -> None:
    log_file = start_logging(tmp_path, console, clock)

    with trace_context("trace-42"):
        logging.getLogger("vpipe.xact.download").info(
            "downloaded %d bytes",
            2048,
            extra={
                "topic": "xact.downloads.pending",
                "partition": 3,
                "offset": 17,
                "path": Path("/x"),
            },
        )

    for record in (json_lines(console.getvalue())[0], json_lines(log_file.read_text())[0]):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["ts"])
        assert record["level"] == "INFO"
        assert record["worker_id"] == "xact-download-3"
        assert record["domain"] == "xact"
        assert record["logger"] == "vpipe.xact.download"
        assert record["msg"] == "downloaded 2048 bytes"
        assert record["trace_id"] == "trace-42"
        assert record["topic"] == "xact.downloads.pending"
        assert record["partition"] == 3
        assert record["offset"] == 17
        assert record["path"] == "/x"  # not JSON-serialisable: rendered with str()


def test_trace_id_extra_wins_over_context(
    tmp_path: Path, console: io.StringIO, clock: FakeClock
) -> None:
    start_logging(tmp_path, console, clock)

    with trace_context("from-context"):
        logging.getLogger("vpipe.test").info("x", extra={"trace_id": "from-extra"})
    logging.getLogger("vpipe.test").info("outside")
    token = set_trace_id("set-directly")
    logging.getLogger("vpipe.test").info("set")
    current_trace_id.reset(token)

    first, second, third = json_lines(console.getvalue())
    assert first["trace_id"] == "from-extra"
    assert second["trace_id"] is None
    assert third["trace_id"] == "set-directly"


def test_the_inline_record_marks_only_its_own_threads_lines(
    tmp_path: Path, console: io.StringIO, clock: FakeClock
) -> None:
    start_logging(tmp_path, console, clock)
    traceparent = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    inline_record.own()
    inline_record.record = Record("t", 0, 1, b"claim-7", b"{}", [("traceparent", traceparent)])
    try:
        logging.getLogger("vpipe.test").info("from the loop thread")
        other = threading.Thread(target=logging.getLogger("vpipe.test").info, args=("other",))
        other.start()
        other.join()
        with trace_context("explicit"):
            logging.getLogger("vpipe.test").info("explicit context")
    finally:
        inline_record.record = None
        inline_record.thread = None

    loop_line, other_line, explicit_line = json_lines(console.getvalue())
    assert loop_line["trace_id"] == "claim-7"
    assert loop_line["w3c_trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert other_line["trace_id"] is None
    assert other_line["w3c_trace_id"] is None
    assert explicit_line["trace_id"] == "explicit"


def test_exception_is_rendered_as_type_message_and_stack(
    tmp_path: Path, console: io.StringIO, clock: FakeClock
) -> None:
    start_logging(tmp_path, console, clock)

    try:
        raise ValueError("bad payload")
    except ValueError:
        logging.getLogger("vpipe.test").exception("parse failed")

    exception = json_lines(console.getvalue())[0]["exception"]
    assert exception["type"] == "ValueError"
    assert exception["message"] == "bad payload"
    assert "Traceback" in exception["stack"]
    assert "raise ValueError" in exception["stack"]


# --- console -----------------------------------------------------------------------------------


def test_human_console_line(tmp_path: Path, console: io.StringIO, clock: FakeClock) -> None:
    start_logging(tmp_path, console, clock, json_console=False)

    logging.getLogger("vpipe.test").warning(
        "retrying %s", "evt-1", extra={"attempt": 2, "error": "timed out"}
    )

    assert re.fullmatch(
        r"\d\d:\d\d:\d\d WARNING xact-download-3 vpipe\.test: retrying evt-1 "
        r'attempt=2 error="timed out"\n',
        console.getvalue(),
    )


def test_third_party_loggers_are_held_at_warning(
    tmp_path: Path, console: io.StringIO, clock: FakeClock
) -> None:
    start_logging(tmp_path, console, clock, level="DEBUG")

    logging.getLogger("azure.core").info("third-party info")
    logging.getLogger("some_library").info("other info")
    logging.getLogger("urllib3").warning("third-party warning")
    logging.getLogger("vpipe.test").debug("vpipe debug")

    messages = [record["msg"] for record in json_lines(console.getvalue())]
    assert messages == ["third-party warning", "vpipe debug"]


# --- redaction in logs -------------------------------------------------------------------------


def test_presigned_url_is_redacted_in_console_and_file(
    tmp_path: Path, console: io.StringIO, clock: FakeClock
) -> None:
    log_file = start_logging(tmp_path, console, clock)
    logger = logging.getLogger("vpipe.xact.download")

    logger.info("fetching %s", PRESIGNED_S3_URL)
    logger.info("fetched", extra={"url": PRESIGNED_S3_URL})

    for text in (console.getvalue(), log_file.read_text()):
        assert "abc123" not in text
        assert "AKIAEXAMPLE" not in text
        from_message, from_extra = json_lines(text)
        assert f"X-Amz-Signature={REDACTED}" in from_message["msg"]
        assert f"X-Amz-Credential={REDACTED}" in from_extra["url"]
        assert "X-Amz-Date=20260120T143000Z" in from_extra["url"]


def test_presigned_url_is_redacted_on_the_human_console(
    tmp_path: Path, console: io.StringIO, clock: FakeClock
) -> None:
    start_logging(tmp_path, console, clock, json_console=False)

    logging.getLogger("vpipe.test").info("fetching %s", PRESIGNED_S3_URL)

    assert "abc123" not in console.getvalue()
    assert f"X-Amz-Signature={REDACTED}" in console.getvalue()


# --- redact() and truncate() -------------------------------------------------------------------


def test_sas_url_values_are_redacted() -> None:
    redacted = redact(SAS_URL)

    assert "Zm9vYmFy" not in redacted
    assert f"?sv={REDACTED}&ss=b&srt=o&sp={REDACTED}&se={REDACTED}&sig={REDACTED}" in redacted


def test_parameter_names_are_case_insensitive() -> None:
    assert redact("https://h/p?SIG=aaa&Token=bbb&API_KEY=ccc") == (
        f"https://h/p?SIG={REDACTED}&Token={REDACTED}&API_KEY={REDACTED}"
    )


def test_url_encoded_query_is_redacted() -> None:
    encoded = "next=https%3A%2F%2Fh%2Fo%3FX-Amz-Signature%3Dabc123%26X-Amz-Date%3D1%26sig%3Dxyz"

    assert redact(encoded) == (
        f"next=https%3A%2F%2Fh%2Fo%3FX-Amz-Signature%3D{REDACTED}%26X-Amz-Date%3D1%26sig%3D{REDACTED}"
    )


def test_ordinary_parameters_and_words_are_kept() -> None:
    text = "GET https://h/p?page=2&design=x&keyboard=y&signal=z Authorization failed"

    assert redact(text) == text


def test_connection_string_shared_access_key_is_redacted() -> None:
    connection = (
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
        "SharedAccessKey=c2VjcmV0K2tleQ==;EntityPath=xact"
    )

    assert redact(connection) == (
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey={REDACTED};EntityPath=xact"
    )


def test_authorization_header_and_bearer_tokens_are_redacted() -> None:
    assert redact("Authorization: SharedKey acct:c2ln") == f"Authorization: {REDACTED}"
    assert redact("{'authorization': 'Basic dTpw'}") == f"{{'authorization': '{REDACTED}'}}"
    assert redact("sent Bearer eyJhbGciOi.eyJzdWIi.sig_x") == f"sent Bearer {REDACTED}"
    assert redact("header Basic dXNlcjpwYXNz") == f"header Basic {REDACTED}"


def test_registered_secret_is_redacted_everywhere(
    tmp_path: Path, console: io.StringIO, clock: FakeClock
) -> None:
    register_secret("s3cr3t-client-value")
    register_secret("abc")  # too short to register: would redact ordinary text

    log_file = start_logging(tmp_path, console, clock)
    logging.getLogger("vpipe.test").error("login with s3cr3t-client-value failed for abc")

    assert redact("x=s3cr3t-client-value;") == f"x={REDACTED};"
    for text in (console.getvalue(), log_file.read_text()):
        assert json_lines(text)[0]["msg"] == f"login with {REDACTED} failed for abc"


def test_redacted_json_line_stays_valid_json(
    tmp_path: Path, console: io.StringIO, clock: FakeClock
) -> None:
    start_logging(tmp_path, console, clock)

    logging.getLogger("vpipe.test").info('headers {"Authorization": "Bearer x.y"} sig="q"')

    assert REDACTED in json_lines(console.getvalue())[0]["msg"]


def test_truncate() -> None:
    assert truncate("short") == "short"
    assert truncate("x" * 500) == "x" * 500
    long_text = "y" * 501
    assert truncate(long_text) == "y" * 497 + "..."
    assert len(truncate(long_text)) == 500
    assert truncate("abcdefghij", limit=8) == "abcde..."


# --- rotation, midnight, retention -------------------------------------------------------------


def test_size_rotation_keeps_at_most_backup_count_archives(
    tmp_path: Path, clock: FakeClock
) -> None:
    # Each line is over half of max_bytes, so every line after the first rotates the file.
    handler = make_handler(tmp_path, clock, max_bytes=300, backup_count=2)
    archive_dir = handler.path.parent / "archive"
    name = handler.path.name

    for number in range(4):
        emit(handler, f"line-{number} " + "p" * 60)
    handler.close()

    assert sorted(path.name for path in archive_dir.iterdir()) == [f"{name}.1", f"{name}.2"]
    assert "line-3" in handler.path.read_text()
    assert "line-2" in (archive_dir / f"{name}.1").read_text()
    assert "line-1" in (archive_dir / f"{name}.2").read_text()


def test_rotation_moves_first_archive_to_second(tmp_path: Path, clock: FakeClock) -> None:
    handler = make_handler(tmp_path, clock, max_bytes=150, backup_count=5)
    archive_dir = handler.path.parent / "archive"
    name = handler.path.name

    emit(handler, "first " + "p" * 100)
    emit(handler, "second " + "p" * 100)
    assert "first" in (archive_dir / f"{name}.1").read_text()

    emit(handler, "third " + "p" * 100)
    handler.close()

    assert "first" in (archive_dir / f"{name}.2").read_text()
    assert "second" in (archive_dir / f"{name}.1").read_text()
    assert "third" in handler.path.read_text()


def test_midnight_opens_a_new_file_in_the_new_date_directory(
    tmp_path: Path, clock: FakeClock
) -> None:
    clock.current = datetime(2026, 1, 20, 23, 59, 58, tzinfo=UTC)
    handler = make_handler(tmp_path, clock)
    first_file = handler.path
    emit(handler, "before midnight")

    clock.advance(timedelta(seconds=3))
    emit(handler, "after midnight")
    handler.close()

    relative = handler.path.relative_to(tmp_path).as_posix()
    assert re.fullmatch(r"xact/2026-01-21/xact_download_0121_0000_[a-z]+-[a-z]+\.log", relative)
    assert json_lines(first_file.read_text())[0]["msg"] == "before midnight"
    assert json_lines(handler.path.read_text())[0]["msg"] == "after midnight"
    assert first_file.parent.name == "2026-01-20"


def test_retention_deletes_old_date_directories_at_start_and_daily(
    tmp_path: Path, clock: FakeClock
) -> None:
    domain_dir = tmp_path / "xact"
    for name in ("2026-01-01", "2026-01-13", "2026-01-15", "not-a-date"):
        (domain_dir / name).mkdir(parents=True)
        (domain_dir / name / "old.log").write_text("x\n")

    handler = make_handler(tmp_path, clock, retention_days=7)
    remaining_at_start = {path.name for path in domain_dir.iterdir()}

    clock.advance(timedelta(days=1))
    emit(handler, "next day")
    handler.close()

    assert remaining_at_start == {"2026-01-13", "2026-01-15", "2026-01-20", "not-a-date"}
    assert {path.name for path in domain_dir.iterdir()} == {
        "2026-01-15",
        "2026-01-20",
        "2026-01-21",
        "not-a-date",
    }


def test_directories_are_scanned_once_per_day_not_per_line(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = make_handler(tmp_path, clock)
    scanned: list[Path] = []
    real_iterdir = Path.iterdir

    def counting_iterdir(path: Path) -> Iterator[Path]:
        scanned.append(path)
        return real_iterdir(path)

    monkeypatch.setattr(Path, "iterdir", counting_iterdir)
    for number in range(50):
        emit(handler, f"line-{number}")
    clock.advance(timedelta(days=1))
    emit(handler, "next day")
    handler.close()

    assert scanned == [tmp_path / "xact"]


def test_host_name_is_in_every_json_line_and_in_the_kafka_client_id(
    tmp_path: Path, console: io.StringIO
) -> None:
    from vpipe_core.config.core import CoreSettings
    from vpipe_core.config.loader import load_settings
    from vpipe_core.context import WorkerContext
    from vpipe_core.registry import load_worker
    from vpipe_core.runner import configure_logging

    settings = load_settings(CoreSettings, {"HOST_NAME": "rhel-b", "LOG_DIR": str(tmp_path)})
    configure_logging(
        settings, worker="xact-download", instance=2, domain="xact", console_stream=console
    )
    logging.getLogger("vpipe.test").info("hello")

    line = json.loads(console.getvalue().strip().splitlines()[-1])
    assert (line["worker_id"], line["host"]) == ("xact-download-2", "rhel-b")
    ctx = WorkerContext(
        load_worker("xact-download"), 2, "xact-download", settings, {}, logging.getLogger()
    )
    assert ctx.client_id == "xact-download-2@rhel-b"
    default = load_settings(CoreSettings, {})
    assert default.host == socket.gethostname()
