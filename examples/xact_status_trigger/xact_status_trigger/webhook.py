"""POSTing a notification to a webhook within a deadline, with retries on 5xx.

`WebhookSender.post` never raises: the outcome is a `Delivery`, and failures are logged. An
attempt is repeated after a 5xx answer or a connection that could not be opened (the endpoint
never saw the request); never after a read timeout or a broken response, where it may have.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import attrs
import urllib3

from xact_status_trigger.config import WebhookConfig

logger = logging.getLogger("vpipe.plugins.xact_status_trigger")

#: Attempts are not started with less time than this left before the deadline.
MIN_ATTEMPT_S = 0.05
#: Pause before the first retry; doubled for each further one, never past the deadline.
BACKOFF_S = 0.2


@attrs.frozen
class Delivery:
    """How one webhook POST went.

    Attributes:
        attempts: requests sent (0 when the deadline had already passed).
        status: the HTTP status of the last answer, ``None`` when there was none.
        error: why it failed, ``None`` on success.
    """

    attempts: int
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def loggable_url(url: str) -> str:
    """Scheme, host, port and path only: query strings and user info may carry secrets."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class WebhookSender:
    """Sends webhook requests through one shared, thread-safe urllib3 pool.

    Args:
        pool: the pool to use (default: a new `urllib3.PoolManager`).
        clock: monotonic seconds (tests may replace it).
        sleep: the pause between attempts (tests may replace it).
    """

    def __init__(
        self,
        pool: urllib3.PoolManager | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._pool = pool or urllib3.PoolManager(retries=False)
        self._clock = clock
        self._sleep = sleep

    def post(
        self,
        webhook: WebhookConfig,
        body: bytes,
        headers: Mapping[str, str],
        *,
        deadline: float,
        event_id: str,
    ) -> Delivery:
        """POST `body` (JSON) until it succeeds, may not be repeated, or `deadline` passes."""
        request_headers = {"Content-Type": "application/json", **headers, **webhook.headers}
        delivery = Delivery(attempts=0, error="no time left before the webhook deadline")
        for attempt in range(webhook.retries + 1):
            if attempt and not self._pause(BACKOFF_S * 2 ** (attempt - 1), deadline):
                break
            remaining = deadline - self._clock()
            if remaining < MIN_ATTEMPT_S:
                break
            timeout = min(webhook.timeout_s, remaining)
            delivery, retry = self._attempt(webhook.url, body, request_headers, timeout, attempt)
            if not retry:
                break
        _log(delivery, webhook.url, event_id)
        return delivery

    def _pause(self, seconds: float, deadline: float) -> bool:
        """Sleep before a retry; ``False`` when no attempt would fit after it."""
        if deadline - self._clock() - seconds < MIN_ATTEMPT_S:
            return False
        self._sleep(seconds)
        return True

    def _attempt(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float, attempt: int
    ) -> tuple[Delivery, bool]:
        """One request: its `Delivery` so far, and whether another attempt may follow."""
        attempts = attempt + 1
        try:
            response = self._pool.request(
                "POST",
                url,
                body=body,
                headers=dict(headers),
                timeout=urllib3.Timeout(total=timeout),
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except urllib3.exceptions.ConnectTimeoutError as error:  # includes refused, DNS
            return Delivery(attempts, error=f"cannot connect: {error}"), True
        except urllib3.exceptions.ReadTimeoutError:
            return Delivery(attempts, error=f"no answer within {timeout:.2g}s"), False
        except Exception as error:  # broken response, TLS failure, bad header value, ...
            return Delivery(attempts, error=f"{type(error).__name__}: {error}"), False
        status = response.status
        response.close()  # the answer's body is not used
        if 200 <= status < 300:
            return Delivery(attempts, status), False
        return Delivery(attempts, status, f"answered HTTP {status}"), status >= 500


def _log(delivery: Delivery, url: str, event_id: str) -> None:
    fields = {
        "plugin": "xact_status_trigger",
        "event_id": event_id,
        "webhook": loggable_url(url),
        "attempts": delivery.attempts,
        "http_status": delivery.status,
    }
    if delivery.ok:
        logger.debug("webhook %s accepted event %s", fields["webhook"], event_id, extra=fields)
        return
    logger.error(
        "webhook %s failed for event %s after %d attempt(s): %s",
        fields["webhook"],
        event_id,
        delivery.attempts,
        delivery.error,
        extra=fields,
    )
