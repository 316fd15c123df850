"""What an instance's metrics port says: `/healthz`, `/readyz` and `/metrics` (runtime.md §10)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import attrs

NO_ANSWER = "no answer"


@attrs.frozen
class Probe:
    health: str  # ok, stalled, or NO_ANSWER
    ready: str  # ready, the not-ready reasons joined by ",", or NO_ANSWER
    metrics: str | None  # the /metrics text, None without an answer

    @property
    def answered(self) -> bool:
        return self.health != NO_ANSWER


def probe(host: str, port: int, timeout_s: float) -> Probe:
    base = f"http://{host}:{port}"
    health = _get(f"{base}/healthz", timeout_s)
    if health is None:
        return Probe(NO_ANSWER, NO_ANSWER, None)
    ready = _get(f"{base}/readyz", timeout_s)
    return Probe(
        "ok" if health[0] == 200 else "stalled",
        _readiness(ready),
        _text(_get(f"{base}/metrics", timeout_s)),
    )


def _readiness(answer: tuple[int, bytes] | None) -> str:
    if answer is None:
        return NO_ANSWER
    status, body = answer
    if status == 200:
        return "ready"
    try:
        reasons = json.loads(body).get("reasons", [])
    except (ValueError, AttributeError):
        reasons = []
    return ",".join(str(reason) for reason in reasons) or "not ready"


def _text(answer: tuple[int, bytes] | None) -> str | None:
    if answer is None or answer[0] != 200:
        return None
    return answer[1].decode("utf-8", errors="replace")


def _get(url: str, timeout_s: float) -> tuple[int, bytes] | None:
    """(status, body), also for error statuses; None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, ValueError):
        return None
