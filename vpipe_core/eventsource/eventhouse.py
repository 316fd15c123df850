"""Reading an Eventhouse table one page at a time.

A page is the rows at or after a composite position `(ingestion time, cursor key)`, below an
upper bound, in that order. Paging uses `>=` on the composite key, so rows sharing both the time
and the key with the last published row (exact duplicates, rows differing only in a column the
key leaves out) are read again, and only those already published are skipped: the position
remembers their fingerprints. The last key travels as a declared query parameter, never spliced
into the text; the times spliced in are checked 7-digit ingestion-time strings.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs
import orjson

from vpipe_core.eventsource.domain import EventhouseTable
from vpipe_core.eventsource.times import is_ingestion_time

if TYPE_CHECKING:
    from azure.kusto.data import KustoClient

    from vpipe_core.azure_auth import AzureCredential

log = logging.getLogger("vpipe.eventsource.eventhouse")

LAST_KEY = "last_key"  # the query parameter holding the cursor key
CURSOR_COLUMNS = frozenset({"ingestion_time", "ingestion_time_s", "cursor_key"})
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TABLE_NAME = IDENTIFIER

PAGE_QUERY = """declare query_parameters({last_key}:string);
{table}
| extend ingestion_time = {time}
| extend ingestion_time_s = tostring(ingestion_time), cursor_key = {cursor_key}
| where ingestion_time > datetime({after}) or (ingestion_time == datetime({after})
    and strcmp(cursor_key, {last_key}) >= 0)
| where ingestion_time < datetime({upper})
| order by ingestion_time asc, cursor_key asc
| take {take}"""


def _fingerprints(_: object, __: attrs.Attribute, value: tuple[str, ...]) -> None:
    if not isinstance(value, tuple) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"emitted must be a list of fingerprint strings, got {value!r}")


@attrs.frozen
class Position:
    """Where the next page starts: at this ingestion time and key, skipping the rows there
    that were already published (`emitted`: their fingerprints, repeated for duplicates)."""

    ingestion_time: str = attrs.field()
    cursor_key: str = attrs.field(validator=attrs.validators.instance_of(str))
    emitted: tuple[str, ...] = attrs.field(default=(), validator=_fingerprints)

    @ingestion_time.validator
    def _check_time(self, _: attrs.Attribute, value: str) -> None:
        if not is_ingestion_time(value):
            raise ValueError(f"ingestion_time {value!r} is not a 7-digit UTC ingestion time")

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Position:
        """From a cursor file (a file written before `emitted` existed skips nothing)."""
        emitted = state.get("emitted", [])
        if not isinstance(emitted, list):
            raise TypeError(f"emitted must be a list, got {type(emitted).__name__}")
        return cls(state["ingestion_time"], state["cursor_key"], tuple(emitted))

    @property
    def at(self) -> tuple[str, str]:
        return self.ingestion_time, self.cursor_key

    def state(self) -> dict[str, Any]:
        return {
            "ingestion_time": self.ingestion_time,
            "cursor_key": self.cursor_key,
            "emitted": list(self.emitted),
        }


@attrs.frozen
class SourceRow:
    """A row as published: the source columns plus `ingestion_time` (7-digit string)."""

    ingestion_time: str
    cursor_key: str
    values: dict[str, Any]

    @property
    def at(self) -> tuple[str, str]:
        return self.ingestion_time, self.cursor_key

    @property
    def fingerprint(self) -> str:
        data = orjson.dumps(self.values, default=str, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(data).hexdigest()[:32]


def source_row(row: Mapping[str, Any], time_column: str | None) -> SourceRow:
    """The published form of a result row: cursor columns dropped, the time column (which the
    client turned into a microsecond datetime) and `ingestion_time` as the 7-digit string."""
    time = row["ingestion_time_s"]
    values = {name: cell for name, cell in row.items() if name not in CURSOR_COLUMNS}
    if time_column:
        values[time_column] = time
    values["ingestion_time"] = time
    return SourceRow(time, row["cursor_key"], values)


def unpublished(rows: Sequence[SourceRow], after: Position) -> tuple[list[SourceRow], Position]:
    """The rows of a page not yet published, and the position after them."""
    skip = Counter(after.emitted)
    fresh = []
    for row in rows:
        if row.at == after.at and skip[row.fingerprint] > 0:
            skip[row.fingerprint] -= 1
            continue
        fresh.append(row)
    if not rows:
        return fresh, after
    last = rows[-1].at
    at_last = [row.fingerprint for row in fresh if row.at == last]
    if last == after.at:
        at_last = [*after.emitted, *at_last]
    return fresh, Position(*last, tuple(at_last))


def page_query(table: EventhouseTable, after: Position, upper: str, take: int) -> str:
    if TABLE_NAME.fullmatch(table.name) is None:
        raise ValueError(f"table name {table.name!r} is not a plain identifier")
    if table.time_column and IDENTIFIER.fullmatch(table.time_column) is None:
        raise ValueError(f"time column {table.time_column!r} is not a plain identifier")
    if not is_ingestion_time(upper):
        raise ValueError(f"upper bound {upper!r} is not a 7-digit UTC ingestion time")
    return PAGE_QUERY.format(
        table=table.name,
        time=table.time_column or "ingestion_time()",
        cursor_key=table.cursor_key,
        after=after.ingestion_time,
        upper=upper,
        take=int(take),
        last_key=LAST_KEY,
    )


def is_auth_error(exc: BaseException) -> bool:
    """A failure a fresh token may cure: a 401, or the credential failing to give a token."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.kusto.data.exceptions import KustoAuthenticationError, KustoServiceError

    if isinstance(exc, KustoAuthenticationError | ClientAuthenticationError):
        return True
    response = getattr(exc, "http_response", None) if isinstance(exc, KustoServiceError) else None
    return getattr(response, "status_code", None) == 401


def kusto_client(
    cluster_url: str,
    database: str,
    credential: AzureCredential | None,
    proxy_url: str | None,
    ca_bundle: str | None = None,
) -> KustoClient:
    """A client for `cluster_url`: the shared credential, or none (EVENTHOUSE_AUTH=none);
    through `proxy_url` if given, trusting `ca_bundle` if given.

    The SDK has no public setting for the CA bundle; its maintainers point to the client's
    requests session (azure-kusto-python#587). That session stops reading the process
    environment (where HTTPS_PROXY would override an explicit proxy and REQUESTS_CA_BUNDLE the
    configured bundle): the caller resolves both from the effective environment."""
    import requests
    from azure.kusto.data import KustoClient, KustoConnectionStringBuilder

    if credential is None:
        kcsb = KustoConnectionStringBuilder.with_no_authentication(cluster_url)
    else:
        kcsb = KustoConnectionStringBuilder.with_azure_token_credential(cluster_url, credential)
    kcsb.initial_catalog = database
    client = KustoClient(kcsb)
    session = client._session
    if isinstance(session, requests.Session):
        session.trust_env = False
        if ca_bundle:
            session.verify = ca_bundle
    if proxy_url:
        client.set_proxy(proxy_url)
    return client


class EventhouseReader:
    """Pages of the source table. An auth error invalidates the shared credential and retries
    the query once with a new client; a second failure is the caller's to count."""

    def __init__(
        self,
        connect: Callable[[], KustoClient],
        credential: AzureCredential | None,
        database: str,
        table: EventhouseTable,
        batch_size: int,
        timeout_s: int,
        caller: str = "vpipe-poller",
    ) -> None:
        self._connect = connect
        self._credential = credential
        self._database = database
        self.table = table
        self.batch_size = batch_size
        self._timeout = timedelta(seconds=timeout_s)
        self._caller = caller
        self._client = connect()

    def page(self, after: Position, upper: str) -> tuple[list[SourceRow], bool]:
        """Rows at or after `after` and before `upper`, in cursor order, and whether the page
        was full. It asks for `batch_size` rows beyond those `after` already published."""
        take = self.batch_size + len(after.emitted)
        query = page_query(self.table, after, upper, take)
        try:
            rows = self._run(query, after.cursor_key)
        except Exception as exc:
            if self._credential is None or not is_auth_error(exc):
                raise
            log.warning("eventhouse auth failed; refreshing the credential once")
            self._credential.invalidate()
            self._reconnect()
            rows = self._run(query, after.cursor_key)
        return [source_row(row, self.table.time_column) for row in rows], len(rows) >= take

    def _run(self, query: str, last_key: str) -> list[dict[str, Any]]:
        from azure.kusto.data import ClientRequestProperties

        properties = ClientRequestProperties()
        properties.set_parameter(LAST_KEY, last_key)
        # The server stops the query after this; the client waits this plus the SDK's margin.
        properties.set_option(ClientRequestProperties.request_timeout_option_name, self._timeout)
        properties.client_request_id = f"vpipe.{self._caller};{uuid.uuid4()}"
        result = self._client.execute_query(self._database, query, properties)
        return [row.to_dict() for row in result.primary_results[0]]

    def _reconnect(self) -> None:
        stale, self._client = self._client, self._connect()
        stale.close()

    def close(self) -> None:
        self._client.close()
