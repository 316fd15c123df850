"""A local Eventhouse (Kusto) stand-in speaking the Kusto REST v2 query protocol on loopback.

The real `azure.kusto.data.KustoClient` talks to it (`KustoStandIn.client()`). It is not a KQL
engine: it evaluates exactly the poller's query shape (xact.md §6, claimx.md §4) - the table,
`extend` of the ingestion time and the cursor key, the composite cursor filter, the upper bound,
`order by` and `take` - and answers anything else with a Kusto-style HTTP 400, so a poller that
drifts from the template fails loudly instead of reading the wrong rows.

Ingestion times are 7-fractional-digit UTC strings (`2026-01-20T14:30:00.1234567Z`) and are
compared as strings, at full precision, exactly like the cursor the poller keeps.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vpipe_testing.http_server import LoopbackHTTPServer

if TYPE_CHECKING:
    from azure.kusto.data import KustoClient

logger = logging.getLogger(__name__)

QUERY_PATH = "/v2/rest/query"
INGESTION_TIME_FIELD = "ingestion_time"
CURSOR_KEY = "cursor_key"
DEFAULT_COLUMN_TYPES: Mapping[str, str] = {"data": "dynamic"}

Row = dict[str, Any]
Predicate = Callable[[Row], bool]
Evaluator = Callable[[str, Row], Any]  # (row's ingestion time, row values) -> value

_IDENT = r"[A-Za-z_]\w*"
_TIME_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(?::(\d{2}))?(?:\.(\d{1,7}))?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)
_STRING_RE = re.compile(r"(@?)(['\"])(.*)\2", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}


class KustoQueryError(Exception):
    """A query the stand-in refuses; answered as HTTP 400 with a OneApiError body."""

    def __init__(self, message: str, *, semantic: bool = False) -> None:
        prefix = "Semantic error: " if semantic else "Syntax error: "
        super().__init__(prefix + message)
        self.semantic = semantic


@dataclass(frozen=True)
class ReceivedQuery:
    """One request as the stand-in received it, with the HTTP status it answered."""

    db: str | None
    csl: str
    parameters: dict[str, Any]
    options: dict[str, Any]
    client_request_id: str | None
    status: int


# --- times --------------------------------------------------------------------------------------


def kusto_time(value: str | datetime) -> str:
    """`value` as Kusto renders a datetime: UTC, 7 fractional digits, `Z` (naive = UTC)."""
    if isinstance(value, datetime):
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    match = _TIME_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not a datetime: {value!r}")
    day, hhmm, seconds, fraction, zone = match.groups()
    whole = datetime.fromisoformat(f"{day}T{hhmm or '00:00'}:{seconds or '00'}")
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[-2:])
        whole -= sign * timedelta(hours=hours, minutes=minutes)
    return whole.strftime("%Y-%m-%dT%H:%M:%S.") + (fraction or "").ljust(7, "0") + "Z"


def _now() -> str:
    return kusto_time(datetime.now(UTC))


# --- small KQL lexical helpers ------------------------------------------------------------------


def _split(text: str, separator: str) -> list[str]:
    """Split on `separator` outside string literals and brackets."""
    parts, depth, quote, start, i = [], 0, "", 0, 0
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    if quote or depth:
        raise KustoQueryError("unbalanced quotes or brackets")
    parts.append(text[start:].strip())
    return parts


def _string_literal(text: str) -> str | None:
    match = _STRING_RE.fullmatch(text.strip())
    if match is None:
        return None
    verbatim, _, body = match.groups()
    if verbatim:
        return body
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), body)


def _column_name(text: str) -> str | None:
    """`name`, `['name']` or `["name"]` -> name; anything else -> None."""
    text = text.strip()
    if re.fullmatch(_IDENT, text):
        return text
    bracketed = re.fullmatch(r"\[(.*)\]", text, re.DOTALL)
    return _string_literal(bracketed[1]) if bracketed else None


def _datetime_literal(text: str) -> str:
    inner = text.strip()
    quoted = _string_literal(inner)
    try:
        return kusto_time(quoted if quoted is not None else inner)
    except ValueError:
        raise KustoQueryError(f"invalid datetime literal datetime({text})") from None


def _tostring(value: Any) -> str:
    """Kusto's tostring(): null -> "", compact JSON for dynamic values."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- the working table of one query -------------------------------------------------------------


@dataclass
class _Frame:
    types: dict[str, str]  # column -> Kusto type, in output order
    rows: list[tuple[str, Row]]  # (ingestion time, values)
    parameters: dict[str, tuple[str, str | None]]  # declared name -> (type, value)
    key_column: str | None  # what `cursor_key = tostring(...)` must name; None: any key

    def column(self, text: str) -> str:
        name = _column_name(text)
        if name is None:
            raise KustoQueryError(f"expected a column name, got {text!r}")
        if name not in self.types:
            raise KustoQueryError(
                f"Failed to resolve scalar expression named '{name}'", semantic=True
            )
        return name

    def datetime_column(self, text: str) -> str:
        name = self.column(text)
        if self.types[name] != "datetime":
            raise KustoQueryError(
                f"'{name}' is of type {self.types[name]}, compared with a datetime", semantic=True
            )
        return name

    def keep(self, predicate: Predicate) -> None:
        self.rows = [(t, row) for t, row in self.rows if predicate(row)]


# --- expressions (only the shapes the pollers use) ----------------------------------------------


def _compile_expression(frame: _Frame, text: str) -> tuple[str, Evaluator]:
    text = text.strip()
    if re.fullmatch(r"ingestion_time\(\s*\)", text):
        return "datetime", lambda when, row: when
    call = re.fullmatch(
        r"(tostring|todatetime|strcat|coalesce|column_ifexists)\s*\((.*)\)", text, re.DOTALL
    )
    if call and call[1] == "column_ifexists":
        name_text, default_text = _split(call[2], ",")
        name, default = _string_literal(name_text), _string_literal(default_text)
        if name is None or default is None:
            raise KustoQueryError(f"column_ifexists takes two string literals, got {text!r}")
        if name in frame.types:
            return frame.types[name], lambda when, row: row.get(name)
        return "string", lambda when, row: default
    if call and call[1] == "coalesce":  # strings: the first that is not null or empty
        parts = [_compile_strcat_argument(frame, arg) for arg in _split(call[2], ",")]
        return "string", lambda when, row: next((v for part in parts if (v := part(when, row))), "")
    if call and call[1] == "tostring":
        inner = call[2].strip()
        if _column_name(inner) is None:
            _, evaluate = _compile_expression(frame, inner)
            return "string", lambda when, row: _tostring(evaluate(when, row))
        name = frame.column(inner)
        return "string", lambda when, row: _tostring(row.get(name))
    if call and call[1] == "todatetime":
        name = frame.column(call[2])
        return "datetime", lambda when, row: _as_time(row.get(name))
    if call and call[1] == "strcat":
        parts = [_compile_strcat_argument(frame, arg) for arg in _split(call[2], ",")]
        return "string", lambda when, row: "".join(part(when, row) for part in parts)
    if _column_name(text) is not None:
        name = frame.column(text)
        return frame.types[name], lambda when, row: row.get(name)
    raise KustoQueryError(f"the Kusto stand-in does not support the expression {text!r}")


def _compile_strcat_argument(frame: _Frame, text: str) -> Evaluator:
    literal = _string_literal(text)
    if literal is not None:
        return lambda when, row: literal
    _, evaluate = _compile_expression(frame, text)
    return lambda when, row: _tostring(evaluate(when, row))


def _as_time(value: Any) -> str | None:
    try:
        return kusto_time(value) if isinstance(value, str | datetime) else None
    except ValueError:
        return None


# --- operators ----------------------------------------------------------------------------------


def _extend(frame: _Frame, body: str) -> None:
    for assignment in _split(body, ","):
        match = re.fullmatch(rf"({_IDENT})\s*=\s*(.+)", assignment, re.DOTALL)
        if match is None:
            raise KustoQueryError(f"expected `name = expression` in extend, got {assignment!r}")
        if match[1] == CURSOR_KEY:
            _check_cursor_key(frame, match[2])
        name, (kind, evaluate) = match[1], _compile_expression(frame, match[2])
        frame.rows = [(when, {**row, name: evaluate(when, row)}) for when, row in frame.rows]
        frame.types.pop(name, None)
        frame.types[name] = kind


def _check_cursor_key(frame: _Frame, expression: str) -> None:
    if frame.key_column is None:
        return
    mentioned = re.findall(r"tostring\s*\(\s*([^()]*?)\s*\)", expression)
    if frame.key_column not in (_column_name(m) for m in mentioned):
        raise KustoQueryError(
            f"this stand-in's cursor key must use `tostring({frame.key_column})`, "
            f"got `{CURSOR_KEY} = {expression.strip()}`",
            semantic=True,
        )


_CURSOR_RE = re.compile(
    rf"(?P<time>{_IDENT})\s*>\s*datetime\((?P<t1>[^()]*)\)\s+or\s*\(\s*(?P<time2>{_IDENT})\s*==\s*"
    rf"datetime\((?P<t2>[^()]*)\)\s+and\s+strcmp\(\s*(?P<key>{_IDENT})\s*,\s*(?P<param>[^(),]+?)"
    rf"\s*\)\s*(?P<op>>=?)\s*0\s*\)",
    re.DOTALL,
)
_BOUND_RE = re.compile(rf"(?P<time>{_IDENT})\s*(?P<op>[<>]=?)\s*datetime\((?P<t>[^()]*)\)")
_COMPARE: dict[str, Callable[[str, str], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _where(frame: _Frame, condition: str) -> None:
    if cursor := _CURSOR_RE.fullmatch(condition):
        frame.keep(_cursor_predicate(frame, cursor))
    elif bound := _BOUND_RE.fullmatch(condition):
        column = frame.datetime_column(bound["time"])
        limit, compare = _datetime_literal(bound["t"]), _COMPARE[bound["op"]]
        frame.keep(lambda row: row.get(column) is not None and compare(row[column], limit))
    else:
        raise KustoQueryError(
            "the Kusto stand-in supports only the poller's filters (`where <time> > datetime(T) "
            "or (<time> == datetime(T) and strcmp(<key>, <param>) > 0)` and `where <time> < "
            f"datetime(U)`), got: where {condition}"
        )


def _cursor_predicate(frame: _Frame, match: re.Match[str]) -> Predicate:
    column = frame.datetime_column(match["time"])
    if frame.datetime_column(match["time2"]) != column:
        raise KustoQueryError("the cursor filter compares two different time columns")
    after = _datetime_literal(match["t1"])
    if _datetime_literal(match["t2"]) != after:
        raise KustoQueryError("the cursor filter uses two different datetimes")
    key, last_key = frame.column(match["key"]), _parameter_value(frame, match["param"])
    key_after = _COMPARE[match["op"]]

    def predicate(row: Row) -> bool:
        when = row.get(column)
        if when is None:
            return False
        return when > after or (when == after and key_after(_tostring(row.get(key)), last_key))

    return predicate


def _parameter_value(frame: _Frame, text: str) -> str:
    if _string_literal(text) is not None:
        raise KustoQueryError(
            f"the cursor key must be a declared query parameter, not a literal spliced into the "
            f"query text ({text}); see xact.md §6"
        )
    if text not in frame.parameters:
        raise KustoQueryError(f"Failed to resolve scalar expression named '{text}'", semantic=True)
    kind, value = frame.parameters[text]
    if kind != "string":
        raise KustoQueryError(f"query parameter '{text}' is {kind}, expected string", semantic=True)
    if value is None:
        raise KustoQueryError(f"query parameter '{text}' was declared but not given", semantic=True)
    return value


def _order_by(frame: _Frame, body: str) -> None:
    keys = []
    for item in _split(body, ","):
        match = re.fullmatch(r"(.+?)(?:\s+(asc|desc))?", item, re.DOTALL)
        if match is None:
            raise KustoQueryError(f"bad order by item {item!r}")
        keys.append((frame.column(match[1]), match[2] != "asc"))  # Kusto's default is desc
    for column, descending in reversed(keys):  # stable sorts, last key first
        frame.rows.sort(key=_by(column), reverse=descending)


def _by(column: str) -> Callable[[tuple[str, Row]], tuple[int, float, str]]:
    return lambda pair: _sort_key(pair[1].get(column))


def _sort_key(value: Any) -> tuple[int, float, str]:
    """Nulls first (ascending), numbers by value, everything else by its string form."""
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, int | float):
        return (1, float(value), "")
    return (2, 0.0, _tostring(value))


def _take(frame: _Frame, count: str) -> None:
    frame.rows = frame.rows[: int(count)]


_STAGES: list[tuple[re.Pattern[str], Callable[[_Frame, str], None]]] = [
    (re.compile(r"extend\s+(.+)", re.DOTALL), _extend),
    (re.compile(r"where\s+(.+)", re.DOTALL), _where),
    (re.compile(r"(?:order|sort)\s+by\s+(.+)", re.DOTALL), _order_by),
    (re.compile(r"(?:take|limit)\s+(\d+)"), _take),
]


def _run_stage(frame: _Frame, stage: str) -> None:
    for pattern, operator in _STAGES:
        if match := pattern.fullmatch(stage):
            operator(frame, match[1])
            return
    raise KustoQueryError(
        f"the Kusto stand-in supports only extend, where, order by and take; got: {stage!r}"
    )


def _declarations(
    statements: Sequence[str], given: Mapping[str, Any]
) -> dict[str, tuple[str, str | None]]:
    declared: dict[str, tuple[str, str | None]] = {}
    for statement in statements:
        match = re.fullmatch(r"declare\s+query_parameters\s*\((.*)\)", statement, re.DOTALL)
        if match is None:
            raise KustoQueryError(
                f"the Kusto stand-in does not support the statement {statement!r}"
            )
        for item in _split(match[1], ","):
            param = re.fullmatch(rf"({_IDENT})\s*:\s*(\w+)(?:\s*=\s*(.+))?", item, re.DOTALL)
            if param is None:
                raise KustoQueryError(f"bad query parameter declaration {item!r}")
            name, kind, default = param.groups()
            value = given.get(name)
            declared[name] = (kind, str(value) if value is not None else _default(default))
    return declared


def _default(text: str | None) -> str | None:
    if text is None:
        return None
    literal = _string_literal(text)
    return text.strip() if literal is None else literal


# --- the stand-in -------------------------------------------------------------------------------


class KustoStandIn:
    """An Eventhouse table on loopback: `start()`/`stop()` or `with`; `url` is the cluster URL.

    `key_column` is the column a `cursor_key = tostring(<column>)` must name (`traceId` for XACT);
    `None` accepts any supported key expression, e.g. ClaimX's `strcat(...)` composite.
    `time_column` (e.g. `IngestionTime` for ClaimX) is a datetime column holding each row's
    ingestion time; the query may use it or `ingestion_time()`, both give the same time.
    `columns` declares extra schema columns, so queries naming them work on an empty table.
    `tls=True` serves https with a throw-away self-signed certificate, `ca_file` after start.
    """

    def __init__(
        self,
        rows: Iterable[Mapping[str, Any]] = (),
        *,
        table: str = "Events",
        database: str = "vpipe",
        key_column: str | None = "traceId",
        time_column: str | None = None,
        columns: Sequence[str] = (),
        column_types: Mapping[str, str] = DEFAULT_COLUMN_TYPES,
        tls: bool = False,
    ) -> None:
        self.table, self.database = table, database
        self.tls = tls
        self.ca_file: str | None = None
        self._private: tempfile.TemporaryDirectory[str] | None = None
        self.key_column, self.time_column = key_column, time_column
        self._declared = [*columns, *(c for c in (key_column, time_column) if c)]
        self._column_types = dict(column_types)
        self._rows: list[tuple[str, Row]] = []
        self._lock = threading.Lock()
        self._failures: deque[int] = deque()
        self._delays: deque[float] = deque()
        self._server: _Server | None = None
        self.queries: list[ReceivedQuery] = []
        self.skipped_lines: list[tuple[int, str]] = []
        self.add_rows(rows)

    @classmethod
    def from_jsonl(cls, path: str | Path, table: str = "Events", **options: Any) -> KustoStandIn:
        """Rows from a JSONL file; lines that are not JSON objects (or have a bad ingestion time)
        are skipped and listed in `skipped_lines` as (line number, reason). Fixture `_case` keys
        are removed."""
        standin = cls(table=table, **options)
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if line.strip():
                standin._load_line(number, line)
        if standin.skipped_lines:
            logger.warning(
                "kusto stand-in skipped %d line(s) of %s", len(standin.skipped_lines), path
            )
        return standin

    def _load_line(self, number: int, line: str) -> None:
        try:
            row = json.loads(line)
        except ValueError as exc:
            self.skipped_lines.append((number, f"not JSON: {exc}"))
            return
        if not isinstance(row, dict):
            self.skipped_lines.append((number, f"not a JSON object: {type(row).__name__}"))
            return
        row.pop("_case", None)
        try:
            self.add_rows([row])
        except ValueError as exc:
            self.skipped_lines.append((number, str(exc)))

    def add_rows(
        self, rows: Iterable[Mapping[str, Any]], ingestion_time: str | datetime | None = None
    ) -> list[str]:
        """Append rows; returns their ingestion times. Without `ingestion_time` a row's time is
        its time column, else its `ingestion_time` field, else now."""
        stored = [self._stored(row, ingestion_time) for row in rows]
        with self._lock:
            self._rows.extend(stored)
        return [when for when, _ in stored]

    def _stored(
        self, row: Mapping[str, Any], ingestion_time: str | datetime | None
    ) -> tuple[str, Row]:
        values = dict(row)
        source = values.pop(INGESTION_TIME_FIELD, None)
        if self.time_column and values.get(self.time_column) is not None:
            source = values[self.time_column]
        chosen = ingestion_time if ingestion_time is not None else source
        when = kusto_time(chosen) if isinstance(chosen, str | datetime) else _now()
        if self.time_column:
            values[self.time_column] = when
        return when, values

    def forget_before(self, when: datetime) -> int:
        """Drop the rows ingested before `when` (a long run's rows a poller has read: every
        query copies the table); returns how many were dropped."""
        cutoff = kusto_time(when)
        with self._lock:
            kept = [(time, row) for time, row in self._rows if time >= cutoff]
            dropped, self._rows = len(self._rows) - len(kept), kept
        return dropped

    @property
    def row_count(self) -> int:
        with self._lock:
            return len(self._rows)

    # fault injection ----------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Answer the next `n` queries with HTTP `status` and a Kusto error body."""
        with self._lock:
            self._failures.extend([status] * n)

    def delay_next(self, seconds: float, n: int = 1) -> None:
        """Hold the next `n` answers for `seconds` (to exercise client and poller timeouts)."""
        with self._lock:
            self._delays.extend([seconds] * n)

    # lifecycle ----------------------------------------------------------------------------------

    def start(self) -> KustoStandIn:
        if self._server is None:
            self._server = _Server(("127.0.0.1", 0), _Handler, self)
            if self.tls:
                context = self._tls_context()
                self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self._server.serve_in_background("kusto-standin")
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop_serving()
        if self._private is not None:
            self._private.cleanup()
            self._private = None

    def _tls_context(self) -> ssl.SSLContext:
        from vpipe_testing.tls import self_signed_pem

        cert, key = self_signed_pem("vpipe-kusto-standin")
        self._private = tempfile.TemporaryDirectory(prefix="kusto-standin-")
        cert_file, key_file = Path(self._private.name, "cert.pem"), Path(self._private.name, "key")
        cert_file.write_bytes(cert)
        key_file.write_bytes(key)
        self.ca_file = str(cert_file)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context

    def __enter__(self) -> KustoStandIn:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Kusto stand-in is not started")
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    @property
    def env(self) -> dict[str, str]:
        """What a poller needs besides the cluster URL: the stand-in takes no token."""
        return {"EVENTHOUSE_AUTH": "none"}

    def client(self) -> KustoClient:
        """A real KustoClient for this stand-in: plain http, no AAD, default database set."""
        from azure.kusto.data import KustoClient, KustoConnectionStringBuilder

        kcsb = KustoConnectionStringBuilder.with_no_authentication(self.url)
        kcsb.initial_catalog = self.database
        return KustoClient(kcsb)

    # request handling ---------------------------------------------------------------------------

    def _answer(self, body: bytes, request_id: str | None) -> tuple[int, Any]:
        """(HTTP status, JSON body) for one POST to /v2/rest/query."""
        try:
            db, csl, properties = _parse_request(body)
        except ValueError as exc:
            return 400, _error_body(400, f"Syntax error: bad request body: {exc}", request_id)
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
            delay = self._delays.popleft() if self._delays else 0.0
        if delay:
            time.sleep(delay)
        status, payload = self._execute(db, csl, properties, request_id, failure)
        record = ReceivedQuery(
            db,
            csl,
            dict(properties.get("Parameters") or {}),
            dict(properties.get("Options") or {}),
            request_id,
            status,
        )
        with self._lock:
            self.queries.append(record)
        return status, payload

    def _execute(
        self,
        db: str | None,
        csl: str,
        properties: Mapping[str, Any],
        request_id: str | None,
        failure: int | None,
    ) -> tuple[int, Any]:
        if failure is not None:
            return failure, _error_body(failure, "injected failure (fail_next)", request_id)
        try:
            return 200, self.run_query(db, csl, properties.get("Parameters") or {})
        except KustoQueryError as exc:
            return 400, _error_body(400, str(exc), request_id, semantic=exc.semantic)

    def run_query(self, db: str | None, csl: str, parameters: Mapping[str, Any]) -> list[Row]:
        """The v2 frames answering `csl`; raises KustoQueryError for anything unsupported."""
        if db != self.database:
            raise KustoQueryError(f"database '{db}' was not found", semantic=True)
        *declarations, query = _split(csl.strip().rstrip(";"), ";")
        frame = self._frame(_declarations(declarations, parameters))
        source, *stages = _split(query, "|")
        if _column_name(source) != self.table:
            message = f"Failed to resolve table expression named '{source}'"
            raise KustoQueryError(message, semantic=True)
        for stage in stages:
            _run_stage(frame, stage)
        return _frames(frame)

    def _frame(self, parameters: dict[str, tuple[str, str | None]]) -> _Frame:
        with self._lock:
            rows = [(when, dict(values)) for when, values in self._rows]
        return _Frame(self._schema(rows), rows, parameters, self.key_column)

    def _schema(self, rows: Sequence[tuple[str, Row]]) -> dict[str, str]:
        names = dict.fromkeys([*(n for _, row in rows for n in row), *self._declared])
        types = {name: self._column_types.get(name) or _infer(name, rows) for name in names}
        if self.time_column:
            types[self.time_column] = "datetime"
        return types


def _infer(name: str, rows: Sequence[tuple[str, Row]]) -> str:
    kinds = {type(row[name]) for _, row in rows if row.get(name) is not None}
    if kinds <= {str}:
        return "string"
    if kinds == {bool}:
        return "bool"
    if kinds == {int}:
        return "long"
    return "real" if kinds <= {int, float} else "dynamic"


# --- protocol -----------------------------------------------------------------------------------


def _parse_request(body: bytes) -> tuple[str | None, str, dict[str, Any]]:
    request = json.loads(body or b"null")
    if not isinstance(request, dict) or not isinstance(request.get("csl"), str):
        raise ValueError("expected a JSON object with a `csl` string")
    properties = request.get("properties") or {}
    if isinstance(properties, str):  # azure-kusto-data sends the properties as a JSON string
        properties = json.loads(properties)
    if not isinstance(properties, dict):
        raise ValueError("`properties` must be an object")
    return request.get("db"), request["csl"], properties


def _frames(frame: _Frame) -> list[Row]:
    columns = [{"ColumnName": name, "ColumnType": kind} for name, kind in frame.types.items()]
    rows = [
        [_cell(row.get(name), kind) for name, kind in frame.types.items()] for _, row in frame.rows
    ]
    return [
        {"FrameType": "DataSetHeader", "IsProgressive": False, "Version": "v2.0"},
        {
            "FrameType": "DataTable",
            "TableId": 0,
            "TableKind": "QueryProperties",
            "TableName": "@ExtendedProperties",
            "Columns": [
                {"ColumnName": "TableId", "ColumnType": "int"},
                {"ColumnName": "Key", "ColumnType": "string"},
                {"ColumnName": "Value", "ColumnType": "dynamic"},
            ],
            "Rows": [[1, "Visualization", {"Visualization": None}]],
        },
        {
            "FrameType": "DataTable",
            "TableId": 1,
            "TableKind": "PrimaryResult",
            "TableName": "PrimaryResult",
            "Columns": columns,
            "Rows": rows,
        },
        {"FrameType": "DataSetCompletion", "HasErrors": False, "Cancelled": False},
    ]


def _cell(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return _as_time(value)
    return _tostring(value) if kind == "string" else value


_ERROR_CODES = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 429: "TooManyRequests"}


def _error_body(status: int, message: str, request_id: str | None, semantic: bool = False) -> Row:
    """A OneApiError body; the client raises KustoApiError with `@message` as its text."""
    if status == 400:
        code, kind = "General_BadRequest", "Kusto.Data.Exceptions.SyntaxException"
        if semantic:
            kind = "Kusto.Data.Exceptions.SemanticException"
    else:
        code = _ERROR_CODES.get(status, "InternalServiceError")
        kind = "Kusto.Common.Svc.Exceptions.ServiceException"
    return {
        "error": {
            "code": code,
            "message": "Request is invalid and cannot be executed." if status == 400 else message,
            "@type": kind,
            "@message": message,
            "@context": {
                "timestamp": datetime.now(UTC).isoformat(),
                "serviceAlias": "VPIPE-KUSTO-STANDIN",
                "clientRequestId": request_id,
                "activityId": str(uuid.uuid4()),
            },
            "@permanent": status == 400,
        }
    }


class _Server(LoopbackHTTPServer):
    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], standin: KustoStandIn
    ) -> None:
        super().__init__(address, handler)
        self.standin = standin


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request_id = self.headers.get("x-ms-client-request-id")
        if self.path.split("?")[0] != QUERY_PATH:
            message = f"Syntax error: the Kusto stand-in serves only POST {QUERY_PATH}"
            self._reply(400, _error_body(400, message, request_id))
            return
        self._reply(*self.server.standin._answer(body, request_id))

    def do_GET(self) -> None:
        self._reply(404, _error_body(404, f"no such endpoint: {self.path}", None))

    def _reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("kusto stand-in: " + format, *args)
