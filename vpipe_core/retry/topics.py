"""Topic names derived from a domain and its retry delays."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

DEFAULT_DELAYS = (300, 600, 1800)


def tier_topic(domain: str, delay_s: int) -> str:
    return f"{domain}.retry.{delay_s}s"


def dlq_topic(domain: str) -> str:
    return f"{domain}.dlq"


def tier_delay(topic: str) -> int | None:
    """The delay of a tier topic name (`acme.retry.300s` → 300), else None."""
    _, sep, tail = topic.rpartition(".retry.")
    if not sep or not tail.endswith("s") or not tail[:-1].isdigit():
        return None
    return int(tail[:-1])


def domain_delays(domain: str, env: Mapping[str, str], default: tuple[int, ...]) -> tuple[int, ...]:
    """`<DOMAIN>_RETRY_DELAYS` when set (already validated by config check), else the default."""
    raw = env.get(f"{domain.upper()}_RETRY_DELAYS", "").strip()
    if not raw:
        return default
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if not items or not all(item.isdigit() and int(item) > 0 for item in items):
        name = f"{domain.upper()}_RETRY_DELAYS"
        raise ValueError(f"{name}: got {raw!r}, expected positive seconds like 300,600,1800")
    return tuple(int(item) for item in items)


def retry_delay_problems(domains: Iterable[str], env: Mapping[str, str]) -> list[str]:
    """`<DOMAIN>_RETRY_DELAYS` of each domain that cannot be read (`vpipe_core.config.startup`)."""
    problems = []
    for domain in sorted(set(domains)):
        try:
            domain_delays(domain, env, ())
        except ValueError as exc:
            problems.append(str(exc))
    return problems
