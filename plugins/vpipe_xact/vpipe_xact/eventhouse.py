"""Reading the XACT Eventhouse table one page at a time (xact.md §6).

A page is the rows after a composite position `(ingestion time, traceId)`, below an upper bound,
in that order, at most `batch_size` of them. The last key travels as a declared query parameter,
never spliced into the text; the times spliced in are checked 7-digit ingestion-time strings.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from vpipe_xact.ingestion_times import is_ingestion_time

if TYPE_CHECKING:
    from azure.kusto.data import KustoClient

    from vpipe_core.azure_auth import AzureCredential

log = logging.getLogger("vpipe.xact.eventhouse")

LAST_KEY = "last_key"  # the query parameter holding the cursor key
CURSOR_COLUMNS = frozenset({"ingestion_time", "ingestion_time_s", "cursor_key"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

PAGE_QUERY = """declare query_parameters({last_key}:string);
{table}
| extend ingestion_time = ingestion_time()
| extend ingestion_time_s = tostring(ingestion_time), cursor_key = tostring(traceId)
| where ingestion_time > datetime({after}) or (ingestion_time == datetime({after})
    and strcmp(cursor_key, {last_key}) > 0)
| where ingestion_time < datetime({upper})
| order by ingestion_time asc, cursor_key asc
| take {take}"""


@attrs.frozen
class Position:
    """Where the next page starts: after this ingestion time and, within it, this key."""

    ingestion_time: str = attrs.field()
    cursor_key: str = attrs.field(validator=attrs.validators.instance_of(str))

    @ingestion_time.validator
    def _check_time(self, _: attrs.Attribute, value: str) -> None:
        if not is_ingestion_time(value):
            raise ValueError(f"ingestion_time {value!r} is not a 7-digit UTC ingestion time")


def page_query(table: str, after: Position, upper: str, take: int) -> str:
    if TABLE_NAME.fullmatch(table) is None:
        raise ValueError(f"table name {table!r} is not a plain identifier")
    if not is_ingestion_time(upper):
        raise ValueError(f"upper bound {upper!r} is not a 7-digit UTC ingestion time")
    return PAGE_QUERY.format(
        table=table, after=after.ingestion_time, upper=upper, take=int(take), last_key=LAST_KEY
    )


def is_loopback(cluster_url: str) -> bool:
    """A local stand-in (plain http on loopback), which takes no authentication."""
    parts = urlsplit(cluster_url)
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS


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
) -> KustoClient:
    """A client for `cluster_url`: no authentication on loopback, else the shared credential.

    Without an explicit proxy the client's HTTP session follows HTTPS_PROXY / NO_PROXY."""
    from azure.kusto.data import KustoClient, KustoConnectionStringBuilder

    if credential is None:
        kcsb = KustoConnectionStringBuilder.with_no_authentication(cluster_url)
    else:
        kcsb = KustoConnectionStringBuilder.with_azure_token_credential(cluster_url, credential)
    kcsb.initial_catalog = database
    client = KustoClient(kcsb)
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
        table: str,
        batch_size: int,
        timeout_s: int,
    ) -> None:
        self._connect = connect
        self._credential = credential
        self._database = database
        self._table = table
        self.batch_size = batch_size
        self._timeout = timedelta(seconds=timeout_s)
        self._client = connect()

    def page(self, after: Position, upper: str) -> list[dict[str, Any]]:
        """Rows after `after` and before `upper`, in cursor order (with the cursor columns)."""
        query = page_query(self._table, after, upper, self.batch_size)
        try:
            return self._run(query, after.cursor_key)
        except Exception as exc:
            if self._credential is None or not is_auth_error(exc):
                raise
            log.warning("eventhouse auth failed; refreshing the credential once")
            self._credential.invalidate()
            self._reconnect()
            return self._run(query, after.cursor_key)

    def _run(self, query: str, last_key: str) -> list[dict[str, Any]]:
        from azure.kusto.data import ClientRequestProperties

        properties = ClientRequestProperties()
        properties.set_parameter(LAST_KEY, last_key)
        # The server stops the query after this; the client waits this plus the SDK's margin.
        properties.set_option(ClientRequestProperties.request_timeout_option_name, self._timeout)
        properties.client_request_id = f"vpipe.xact-poller;{uuid.uuid4()}"
        result = self._client.execute_query(self._database, query, properties)
        return [row.to_dict() for row in result.primary_results[0]]

    def _reconnect(self) -> None:
        stale, self._client = self._client, self._connect()
        stale.close()

    def close(self) -> None:
        self._client.close()
