"""`setup_logging`: the console and file handlers on the root logger, with their levels."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from vpipe_core.logs.files import DailyArchiveFileHandler, utc_now
from vpipe_core.logs.formatting import HumanFormatter, JsonFormatter

VPIPE_LOGGER_PREFIX = "vpipe"
THIRD_PARTY_LEVEL = logging.WARNING
# Set explicitly so these libraries skip building their debug records at all; any other
# third-party logger is held back by the handler filter.
_CHATTY_THIRD_PARTY_LOGGERS = (
    "confluent_kafka",
    "azure",
    "msal",
    "urllib3",
    "botocore",
    "boto3",
    "s3transfer",
    "deltalake",
    "aiohttp",
    "httpx",
    "httpcore",
    "asyncio",
)
_installed_handlers: list[logging.Handler] = []


class OriginLevelFilter(logging.Filter):
    """vpipe loggers pass at `vpipe_level`, every other logger at `third_party_level`."""

    def __init__(self, *, vpipe_level: int, third_party_level: int) -> None:
        super().__init__()
        self.vpipe_level = vpipe_level
        self.third_party_level = third_party_level

    def filter(self, record: logging.LogRecord) -> bool:
        is_vpipe = record.name.startswith(VPIPE_LOGGER_PREFIX)
        return record.levelno >= (self.vpipe_level if is_vpipe else self.third_party_level)


def _remove_installed_handlers() -> None:
    root = logging.getLogger()
    for handler in _installed_handlers:
        root.removeHandler(handler)
        handler.close()
    _installed_handlers.clear()


def _install(
    handler: logging.Handler, formatter: logging.Formatter, level_filter: logging.Filter
) -> None:
    handler.setFormatter(formatter)
    handler.addFilter(level_filter)
    logging.getLogger().addHandler(handler)
    _installed_handlers.append(handler)


def setup_logging(
    *,
    worker: str,
    instance: int,
    domain: str,
    log_dir: Path | None,
    level: str = "INFO",
    json_console: bool = True,
    max_size_mb: int = 10,
    backup_count: int = 5,
    retention_days: int = 7,
    console_stream: TextIO | None = None,
    now: Callable[[], datetime] = utc_now,
    host: str | None = None,
) -> Path | None:
    """Install the console and file handlers on the root logger; return the log file path.

    `console_stream` defaults to `sys.stderr` as it is when called. Calling again replaces the
    handlers installed by the previous call.
    """
    _remove_installed_handlers()
    worker_id = f"{worker}-{instance}"
    vpipe_level = logging.getLevelNamesMapping()[level.upper()]
    # With LOG_LEVEL above WARNING, libraries are not louder than vpipe itself.
    third_party_level = max(THIRD_PARTY_LEVEL, vpipe_level)
    level_filter = OriginLevelFilter(vpipe_level=vpipe_level, third_party_level=third_party_level)
    logging.getLogger().setLevel(min(vpipe_level, third_party_level))
    for name in _CHATTY_THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(third_party_level)

    json_formatter = JsonFormatter(worker_id=worker_id, domain=domain, host=host)
    console_formatter = json_formatter if json_console else HumanFormatter(worker_id=worker_id)
    console = logging.StreamHandler(console_stream if console_stream is not None else sys.stderr)
    _install(console, console_formatter, level_filter)

    if log_dir is None:
        return None
    file_handler = DailyArchiveFileHandler(
        log_dir=log_dir,
        domain=domain,
        worker=worker,
        max_bytes=max_size_mb * 1024 * 1024,
        backup_count=backup_count,
        retention_days=retention_days,
        now=now,
    )
    _install(file_handler, json_formatter, level_filter)
    return file_handler.path
