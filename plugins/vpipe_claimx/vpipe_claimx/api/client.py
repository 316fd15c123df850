"""`ClaimxApi`: the ClaimX REST endpoints vpipe uses (claimx.md §11.3), one method each.

Every method validates its ids before any request and raises `ApiError` on failure; the
category routes it (PERMANENT → dead, TRANSIENT/AUTH → retry, `retry_after_s` as minimum delay).
One instance per process, shared by the threads of a pool.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from vpipe_claimx.api import shapes
from vpipe_claimx.api.errors import ApiError
from vpipe_claimx.api.ratelimit import RateLimiter
from vpipe_claimx.api.transport import Transport, pool_manager
from vpipe_core.config.loader import ConfigError
from vpipe_core.outcome import Category
from vpipe_core.retry.circuit import CircuitBreaker, CircuitState
from vpipe_core.transfer import netconf
from vpipe_core.transfer.netconf import ProxyConfig

if TYPE_CHECKING:
    from vpipe_claimx.settings import ClaimxSettings

log = logging.getLogger("vpipe.claimx.api")

CIRCUIT_NAME = "claimx_api"
VIDEO_REPORT_TYPE = "VIDEO_COLLABORATION"


@attrs.frozen
class CircuitLimits:
    """claimx.md §11.1: open after 5 consecutive retryable failures, 60 s open, 3 half-open
    probes, 2 successes close."""

    failures: int = 5
    open_s: float = 60.0
    probes: int = 3
    close_after: int = 2


class ClaimxApi:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        sender_username: str | None = None,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        concurrency: int = 20,
        rate_limit_per_s: float = 0.0,
        ca_bundle: str | os.PathLike[str] | None = None,
        proxy: ProxyConfig | None = None,
        circuit: CircuitLimits = CircuitLimits(),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`proxy`: HTTP(S)_PROXY / NO_PROXY (default: read from the process environment)."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.sender_username = sender_username
        if not sender_username:
            log.warning("CLAIMX_API_SENDER_USERNAME is not set: E4 requests go without a sender")
        breaker = CircuitBreaker(
            CIRCUIT_NAME,
            failure_threshold=circuit.failures,
            open_s=circuit.open_s,
            half_open_probes=circuit.probes,
            close_after=circuit.close_after,
            clock=monotonic,
        )
        bundle = os.fspath(ca_bundle) if ca_bundle is not None else None
        self._transport = Transport(
            base_url,
            token,
            pool=pool_manager(
                base_url,
                max_connections=concurrency,
                ca_bundle=bundle,
                proxy=ProxyConfig.from_env(os.environ) if proxy is None else proxy,
            ),
            breaker=breaker,
            rate_limiter=RateLimiter(rate_limit_per_s, clock=monotonic, sleep=sleep),
            concurrency=concurrency,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            monotonic=monotonic,
            now=now,
        )

    @classmethod
    def from_settings(
        cls,
        settings: ClaimxSettings,
        ca_bundle: str | os.PathLike[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> ClaimxApi:
        """The client the settings describe; ConfigError when CLAIMX_API_TOKEN is missing.

        `env` (a worker passes `ctx.env`, which includes the .env file; default the process
        environment) supplies HTTP(S)_PROXY / NO_PROXY and the CA fallbacks (SSL_CERT_FILE,
        REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) when `ca_bundle` (CA_BUNDLE) is not set.
        """
        if not settings.api_token:
            raise ConfigError(["CLAIMX_API_TOKEN: required to call the ClaimX API"])
        env = os.environ if env is None else env
        configured = Path(ca_bundle) if ca_bundle is not None else None
        return cls(
            settings.api_url,
            settings.api_token,
            sender_username=settings.api_sender_username,
            timeout_s=settings.api_timeout_s,
            concurrency=settings.api_concurrency,
            rate_limit_per_s=settings.api_rate_limit_per_s,
            ca_bundle=netconf.ca_bundle(configured, env),
            proxy=ProxyConfig.from_env(env),
        )

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def circuit_state(self) -> CircuitState:
        return self._transport.breaker.state

    def close(self) -> None:
        """Close pooled connections; idempotent."""
        self._transport.close()

    def __enter__(self) -> ClaimxApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- endpoints --------------------------------------------------------------------------

    def project(self, project_id: str) -> dict[str, Any]:
        """E1: `{project, teamMembers, companyName}` (the `data` wrapper removed)."""
        project_id = shapes.numeric_id("E1", "project_id", project_id)
        body = self._transport.call("E1", "GET", f"export/project/{project_id}")
        return shapes.project_export(body)

    def media(
        self, project_id: str, media_ids: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """E2: the project's media items; with `media_ids`, sent as `mediaIds=` and only those
        items returned. Whether to pass ids (≤ 5) or fetch the full list is the caller's rule."""
        project_id = shapes.numeric_id("E2", "project_id", project_id)
        wanted = None
        query = None
        if isinstance(media_ids, str | int):
            media_ids = [str(media_ids)]  # one id, not a sequence of characters
        if media_ids is not None:
            wanted = [shapes.numeric_id("E2", "media_id", media_id) for media_id in media_ids]
            if not wanted:
                return []
            query = {"mediaIds": ",".join(dict.fromkeys(wanted))}
        body = self._transport.call("E2", "GET", f"export/project/{project_id}/media", query=query)
        return shapes.media_items(body, wanted)

    def task_assignment(self, assignment_id: str) -> dict[str, Any]:
        """E3 with `full=true`: the assignment (unwrapped) with customTask, externalLinkData,
        response."""
        assignment_id = shapes.numeric_id("E3", "assignment_id", assignment_id)
        body = self._transport.call(
            "E3", "GET", f"customTasks/assignment/{assignment_id}", query={"full": "true"}
        )
        return shapes.unwrapped_object("E3", body)

    def video_collaboration(
        self,
        project_id: str,
        *,
        start_date: str | None = None,
        end_date: str | None = None,
    ) -> dict[str, Any] | None:
        """E4: the report item whose claimId is the project, or None (an empty report)."""
        project_id = shapes.numeric_id("E4", "project_id", project_id)
        request: dict[str, Any] = {"reportType": VIDEO_REPORT_TYPE, "projectId": int(project_id)}
        if self.sender_username:
            request["senderUsername"] = self.sender_username
        if start_date is not None:
            request["startDate"] = start_date
        if end_date is not None:
            request["endDate"] = end_date
        body = self._transport.call("E4", "POST", "data", body=request)
        return shapes.video_collaboration(body, project_id)

    def project_id_for(self, project_number: str) -> str:
        """P1: the project id of a claim (project) number."""
        number = project_number.strip() if isinstance(project_number, str) else ""
        if not number:
            raise ApiError(Category.PERMANENT, "P1", f"invalid project number {project_number!r}")
        body = self._transport.call(
            "P1", "GET", "export/project/projectId", query={"projectNumber": number}
        )
        return shapes.project_id_answer(body)

    def project_action(self, body: Mapping[str, Any]) -> None:
        """P2: POST a project action (e.g. CUSTOM_TASK_ASSIGN_EXTERNAL_LINK); any 2xx is success."""
        if not isinstance(body, Mapping):
            raise TypeError("project_action body must be a mapping")
        shapes.numeric_id("P2", "projectId", body.get("projectId"))
        self._transport.call("P2", "POST", "import/project/actions", body=dict(body))
