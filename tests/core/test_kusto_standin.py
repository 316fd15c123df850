"""The Kusto stand-in, exercised through the real azure-kusto-data KustoClient."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.kusto.data import ClientRequestProperties, KustoClient
from azure.kusto.data.exceptions import KustoApiError, KustoServiceError, KustoThrottlingError

from vpipe_claimx.poller import POLLER as CLAIMX_POLLER
from vpipe_testing.kusto import KustoStandIn, kusto_time
from vpipe_xact.poller import POLLER as XACT_POLLER

# The sample events the domain plugins ship (one copy, also the demo's sample source).
FIXTURES = {
    "xact_events.jsonl": XACT_POLLER.bundled_events_file(),
    "claimx_events.jsonl": CLAIMX_POLLER.bundled_events_file(),
}
T = "2026-01-20T14:30:00.1234567Z"
EARLY = "2026-01-20T00:00:00.0000000Z"
UPPER = "2026-01-21T00:00:00.0000000Z"

XACT_QUERY = """declare query_parameters(last_key:string);
{table}
| extend ingestion_time = ingestion_time()
| extend ingestion_time_s = tostring(ingestion_time), cursor_key = tostring(traceId)
| where ingestion_time > datetime({after}) or (ingestion_time == datetime({after})
    and strcmp(cursor_key, last_key) {op} 0)
| where ingestion_time < datetime({upper})
| order by ingestion_time asc, cursor_key asc
| take {take}"""

CLAIMX_KEY = (
    "strcat(tostring(projectId),'|',eventType,'|',tostring(mediaId),'|',"
    "tostring(taskAssignmentId),'|',tostring(videoCollaborationId),'|',tostring(masterFileName))"
)


def xact_query(
    after: str = EARLY, upper: str = UPPER, take: int = 100, table: str = "Events", op: str = ">"
) -> str:
    return XACT_QUERY.format(after=after, upper=upper, take=take, table=table, op=op)


def page(
    client: KustoClient, query: str, last_key: str = "", **params: str
) -> list[dict[str, Any]]:
    properties = ClientRequestProperties()
    properties.set_parameter("last_key", last_key)
    for name, value in params.items():
        properties.set_parameter(name, value)
    properties.set_option("servertimeout", timedelta(seconds=30))
    result = client.execute_query("vpipe", query, properties)
    return [row.to_dict() for row in result.primary_results[0]]


def drain(
    client: KustoClient, take: int, after: str = EARLY, upper: str = UPPER
) -> list[list[dict[str, Any]]]:
    """The poller's boundary draining: resume at (T, last key) until a short page."""
    pages, last_key = [], ""
    while True:
        rows = page(client, xact_query(after=after, upper=upper, take=take), last_key)
        pages.append(rows)
        if len(rows) < take:
            return pages
        after, last_key = rows[-1]["ingestion_time_s"], rows[-1]["cursor_key"]


def event(trace_id: str | None, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"type": "verisk.claims.property.xn.status.accepted", "version": 1}
    if trace_id is not None:
        row["traceId"] = trace_id
    return {**row, "utcDateTime": "2026-01-20T14:29:59Z", "data": {"assignmentId": "A1"}, **extra}


@pytest.fixture
def standin() -> Iterator[KustoStandIn]:
    with KustoStandIn() as server:
        yield server


@pytest.fixture
def client(standin: KustoStandIn) -> Iterator[KustoClient]:
    with standin.client() as kusto:
        yield kusto


def test_plain_page_has_typed_source_columns_and_cursor_columns(
    standin: KustoStandIn, client: KustoClient
) -> None:
    standin.add_rows([event("t-2")], ingestion_time="2026-01-20T14:30:01.5Z")
    standin.add_rows([event("t-1")], ingestion_time=T)

    result = client.execute_query("vpipe", xact_query(), _params(last_key=""))
    table = result.primary_results[0]
    types = {column.column_name: column.column_type for column in table.columns}
    rows = [row.to_dict() for row in table]

    assert types == {
        "type": "string",
        "version": "long",
        "utcDateTime": "string",
        "traceId": "string",
        "data": "dynamic",
        "ingestion_time": "datetime",
        "ingestion_time_s": "string",
        "cursor_key": "string",
    }
    assert [row["traceId"] for row in rows] == ["t-1", "t-2"]
    assert [row["ingestion_time_s"] for row in rows] == [T, "2026-01-20T14:30:01.5000000Z"]
    assert rows[0]["cursor_key"] == "t-1"
    assert rows[0]["data"] == {"assignmentId": "A1"}
    # the client's datetime keeps only microseconds, which is why the poller uses the string
    assert rows[0]["ingestion_time"].isoformat() == "2026-01-20T14:30:00.123456+00:00"


def test_rows_sharing_one_ingestion_time_are_drained_across_take_boundaries(
    standin: KustoStandIn, client: KustoClient
) -> None:
    standin.add_rows([event(f"trace-{i}") for i in (4, 1, 5, 3, 2)], ingestion_time=T)

    pages = drain(client, take=2)

    assert [len(rows) for rows in pages] == [2, 2, 1]
    served = [row["traceId"] for rows in pages for row in rows]
    assert served == ["trace-1", "trace-2", "trace-3", "trace-4", "trace-5"]
    assert {row["ingestion_time_s"] for rows in pages for row in rows} == {T}


def test_forget_before_drops_only_rows_ingested_earlier(
    standin: KustoStandIn, client: KustoClient
) -> None:
    standin.add_rows([event("old")], ingestion_time="2026-01-20T14:29:59.9999999Z")
    standin.add_rows([event("at"), event("later")], ingestion_time=T)

    dropped = standin.forget_before(datetime(2026, 1, 20, 14, 30, 0, 123456, tzinfo=UTC))

    assert dropped == 1
    assert standin.row_count == 2
    assert [row["traceId"] for rows in drain(client, take=10) for row in rows] == ["at", "later"]


def test_cursor_key_travels_as_a_query_parameter(
    standin: KustoStandIn, client: KustoClient
) -> None:
    standin.add_rows([event("a"), event("b"), event("c")], ingestion_time=T)

    rows = page(client, xact_query(after=T), last_key="a")

    assert [row["traceId"] for row in rows] == ["b", "c"]
    received = standin.queries[-1]
    assert received.parameters == {"last_key": "a"}
    assert received.options == {"servertimeout": "0:00:30"}
    assert received.db == "vpipe"
    assert received.status == 200


def test_cursor_filter_with_greater_or_equal_keeps_the_last_key(
    standin: KustoStandIn, client: KustoClient
) -> None:
    standin.add_rows([event("a"), event("b")], ingestion_time=T)

    rows = page(client, xact_query(after=T, op=">="), last_key="a")

    assert [row["traceId"] for row in rows] == ["a", "b"]


def test_ingestion_times_compare_at_full_seven_digit_precision(
    standin: KustoStandIn, client: KustoClient
) -> None:
    standin.add_rows([event("z")], ingestion_time="2026-01-20T14:30:00.1234567Z")
    standin.add_rows([event("a")], ingestion_time="2026-01-20T14:30:00.1234568Z")

    rows = page(client, xact_query(after="2026-01-20T14:30:00.1234567Z"), last_key="z")

    assert [row["ingestion_time_s"] for row in rows] == ["2026-01-20T14:30:00.1234568Z"]


def test_upper_bound_excludes_rows_at_or_after_it(
    standin: KustoStandIn, client: KustoClient
) -> None:
    standin.add_rows([event("early")], ingestion_time="2026-01-20T14:29:59.9999999Z")
    standin.add_rows([event("at")], ingestion_time="2026-01-20T14:30:00.0000000Z")
    standin.add_rows([event("late")], ingestion_time="2026-01-20T14:30:05.0000000Z")

    rows = page(client, xact_query(upper="2026-01-20T14:30:00Z"))

    assert [row["traceId"] for row in rows] == ["early"]


def test_xact_fixture_rows_are_all_served_in_cursor_order() -> None:
    path = _fixture("xact_events.jsonl")
    lines = [line for line in path.read_text().splitlines() if line.strip()]

    with KustoStandIn.from_jsonl(path) as standin, standin.client() as client:
        pages = drain(client, take=4, after="2026-02-03T00:00:00Z", upper="2026-02-04T00:00:00Z")

    rows = [row for rows in pages for row in rows]
    assert standin.skipped_lines == []
    assert len(rows) == standin.row_count == len(lines) == 17
    assert all("_case" not in row for row in rows)
    keys = [(row["ingestion_time_s"], row["cursor_key"]) for row in rows]
    assert keys == sorted(keys)
    shared = [
        row["traceId"] for row in rows if row["ingestion_time_s"].startswith("2026-02-03T09:40")
    ]
    assert shared == sorted(shared) and len(shared) == 2  # rows 4 and 5 share one time
    no_trace = [row for row in rows if row["traceId"] is None]
    assert len(no_trace) == 1 and no_trace[0]["cursor_key"] == ""  # tostring(null) is ""
    assert any(isinstance(row["data"], str) for row in rows)  # row 14: `data` as a JSON string


def test_jsonl_lines_that_are_not_json_objects_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    good = '{"traceId": "ok-%d", "ingestion_time": "2026-01-20T14:30:00.1Z"}'
    path.write_text(
        "\n".join(
            [
                good % 1,
                "{not json",
                "[1, 2]",
                "",
                '"text"',
                good % 2,
                '{"traceId": "x", "ingestion_time": "yesterday"}',
            ]
        )
    )

    standin = KustoStandIn.from_jsonl(path)

    assert standin.row_count == 2
    assert [number for number, _ in standin.skipped_lines] == [2, 3, 5, 7]
    assert "not a JSON object" in standin.skipped_lines[1][1]


def claimx_query(after: str, upper: str) -> str:
    return f"""declare query_parameters(last_key:string = "");
ClaimXEvents
| extend ingestion_time = IngestionTime
| extend ingestion_time_s = tostring(ingestion_time), cursor_key = {CLAIMX_KEY}
| where ingestion_time > datetime({after}) or
    (ingestion_time == datetime({after}) and strcmp(cursor_key, last_key) >= 0)
| where ingestion_time < datetime({upper})
| order by ingestion_time asc, cursor_key asc
| take 10"""


def test_claimx_composite_key_and_time_column() -> None:
    options = {"table": "ClaimXEvents", "key_column": None, "time_column": "IngestionTime"}
    path = _fixture("claimx_events.jsonl")
    shared_time = "2026-02-03T10:22:41.5093318Z"

    with KustoStandIn.from_jsonl(path, **options) as standin, standin.client() as client:
        after_first = "5517342|PROJECT_FILE_ADDED|98810452|||"
        rows = page(client, claimx_query(shared_time, "2026-02-03T10:31:07Z"), after_first)
        naive = page(client, claimx_query("2026-02-04T11:00:00Z", "2026-02-04T11:05:00Z"))

    assert standin.skipped_lines == []
    # rows 4, 16 (exact duplicate) and 5 share one time; `>=` keeps the duplicate key
    assert [row["mediaId"] for row in rows] == ["98810452", "98810452", "98810467"]
    assert rows[0]["cursor_key"] == after_first
    assert rows[0]["ingestion_time_s"] == shared_time
    assert [row["ingestion_time_s"] for row in naive] == [
        "2026-02-04T11:00:00.1000000Z",
        "2026-02-04T11:02:18.3300000Z",  # row 14's naive IngestionTime, read as UTC
    ]


def test_injected_failure_surfaces_as_client_error_then_recovers(
    standin: KustoStandIn, client: KustoClient
) -> None:
    standin.add_rows([event("t-1")], ingestion_time=T)
    standin.fail_next(1, status=500)

    with pytest.raises(KustoServiceError, match="injected failure"):
        page(client, xact_query())
    assert [row["traceId"] for row in page(client, xact_query())] == ["t-1"]
    assert [query.status for query in standin.queries] == [500, 200]

    standin.fail_next(1, status=429)
    with pytest.raises(KustoThrottlingError):
        page(client, xact_query())


def test_delay_next_holds_the_answer(standin: KustoStandIn, client: KustoClient) -> None:
    standin.delay_next(0.5)

    started = time.monotonic()
    page(client, xact_query())

    assert time.monotonic() - started >= 0.5


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("Events | project traceId", "supports only extend, where, order by and take"),
        ("Events | where traceId == 'x'", "supports only the poller's filters"),
        ("Other | take 1", "Failed to resolve table expression named 'Other'"),
        (
            xact_query().replace("by ingestion_time", "by ingestionTime"),
            "Failed to resolve scalar expression",
        ),
        (
            xact_query().replace("strcmp(cursor_key, last_key)", "strcmp(cursor_key, 'abc')"),
            "must be a declared query parameter",
        ),
        (
            xact_query().replace("tostring(traceId)", "tostring(eventId)"),
            "stand-in.s cursor key must use `tostring.traceId.`",
        ),
        (".show tables", "serves only POST /v2/rest/query"),
    ],
)
def test_unsupported_queries_get_a_clear_kusto_error(
    client: KustoClient, query: str, message: str
) -> None:
    with pytest.raises(KustoServiceError, match=message) as raised:
        client.execute(None, query, _params(last_key=""))
    if isinstance(raised.value, KustoApiError):
        assert raised.value.get_api_error().code == "General_BadRequest"


def test_missing_parameter_and_wrong_database_are_semantic_errors(client: KustoClient) -> None:
    with pytest.raises(KustoApiError, match="declared but not given") as raised:
        client.execute_query("vpipe", xact_query())
    assert raised.value.is_semantic_error()
    with pytest.raises(KustoApiError, match="database 'other' was not found"):
        client.execute_query("other", xact_query(), _params(last_key=""))


def test_order_by_defaults_to_descending_like_kusto(
    standin: KustoStandIn, client: KustoClient
) -> None:
    standin.add_rows([event("a"), event("b")], ingestion_time=T)
    query = xact_query().replace(
        "order by ingestion_time asc, cursor_key asc", "order by cursor_key"
    )

    assert [row["traceId"] for row in page(client, query)] == ["b", "a"]


def test_kusto_time_normalises_to_seven_digits_utc() -> None:
    assert kusto_time("2026-02-04T11:02:18.33") == "2026-02-04T11:02:18.3300000Z"
    assert kusto_time("2026-02-04T12:02:18+01:00") == "2026-02-04T11:02:18.0000000Z"
    with pytest.raises(ValueError):
        kusto_time("2026-02-04T11:02:18.123456789Z")


def _params(**parameters: str) -> ClientRequestProperties:
    properties = ClientRequestProperties()
    for name, value in parameters.items():
        properties.set_parameter(name, value)
    return properties


def _fixture(name: str) -> Path:
    path = FIXTURES[name]
    assert path.is_file(), f"the fixture {path} is missing from the installed plugin"
    return path
