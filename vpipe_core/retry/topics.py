"""Topic names derived from a domain and its retry delays."""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_DELAYS = (300, 600, 1800)


def tier_topic(domain: str, delay_s: int) -> str:
    return f"{domain}.retry.{delay_s}s"


def dlq_topic(domain: str) -> str:
    return f"{domain}.dlq"


def tier_delay(topic: str) -> int | None:
    """The delay of a tier topic name (`xact.retry.300s` → 300), else None."""
    _, sep, tail = topic.rpartition(".retry.")
    if not sep or not tail.endswith("s") or not tail[:-1].isdigit():
        return None
    return int(tail[:-1])


def domain_delays(domain: str, env: Mapping[str, str], default: tuple[int, ...]) -> tuple[int, ...]:
    """`<DOMAIN>_RETRY_DELAYS` when set (already validated by config check), else the default."""
    raw = env.get(f"{domain.upper()}_RETRY_DELAYS", "").strip()
    if not raw:
        return default
    delays = tuple(int(item) for item in raw.split(",") if item.strip())
    if not delays or any(delay <= 0 for delay in delays):
        name = f"{domain.upper()}_RETRY_DELAYS"
        raise ValueError(f"{name}: got {raw!r}, expected positive seconds like 300,600,1800")
    return delays
