"""The guards over the whole environment (runtime.md §7): retired names, each with what replaced
it, and the typo guard (a name with a guarded prefix that no settings class declares).

A settings class names the variables it retired in a class attribute::

    RETIRED_VARIABLES: ClassVar[Mapping[str, str]] = {
        "ACME_API_KEY": replaced_by("ACME_API_TOKEN"),  # from vpipe_core.config.fields
        "ACME_S3_*": "not used: downloads rely on presigned URLs",  # a whole prefix
    }
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from vpipe_core.config.environment import ENV_FILE_VARIABLE
from vpipe_core.config.loader import ConfigError, declared_names, load_settings

RETIRED_ATTRIBUTE = "RETIRED_VARIABLES"
CORE_PREFIX = "VPIPE_"
# Read by the loader itself rather than by a settings class.
LOADER_VARIABLES = frozenset({ENV_FILE_VARIABLE})


def retired_variables(classes: Iterable[type]) -> dict[str, str]:
    """Retired name (or `PREFIX_*`) → reason, from every class's `RETIRED_VARIABLES`."""
    retired: dict[str, str] = {}
    for cls in classes:
        retired.update(getattr(cls, RETIRED_ATTRIBUTE, {}))
    return retired


def retired_problem(name: str, retired: Mapping[str, str]) -> str | None:
    """The problem for a retired variable name, None if `name` is not one."""
    if name in retired:
        return f"{name}: {retired[name]}"
    for pattern, reason in retired.items():
        if pattern.endswith("*") and name.startswith(pattern[:-1]):
            return f"{name}: {reason}"
    return None


def retired_problems(env: Mapping[str, str], retired: Mapping[str, str]) -> list[str]:
    return [problem for name in sorted(env) if (problem := retired_problem(name, retired))]


def unknown_variables(
    env: Mapping[str, str],
    known_names: set[str],
    prefixes: set[str],
    retired: Mapping[str, str] | None = None,
) -> list[str]:
    """Names in `env` with a guarded prefix that no settings class declares (typo guard);
    `retired` names are left to the retired-name guard."""
    accepted = known_names | LOADER_VARIABLES | _domain_retry_delay_names(prefixes)
    candidates = sorted(accepted)
    problems: list[str] = []
    for name in sorted(env):
        if name in accepted or not name.startswith(tuple(prefixes)):
            continue
        if retired_problem(name, retired or {}) is not None:
            continue  # reported by the retired-name guard with its replacement
        problems.append(_unknown_variable_problem(name, candidates))
    return problems


def _domain_retry_delay_names(prefixes: Iterable[str]) -> set[str]:
    # The retry module reads `<DOMAIN>_RETRY_DELAYS` itself; VPIPE_ is not a domain.
    return {f"{prefix}RETRY_DELAYS" for prefix in prefixes if prefix != CORE_PREFIX}


def _unknown_variable_problem(name: str, candidates: list[str]) -> str:
    suggestions = difflib.get_close_matches(name, candidates, n=1)
    if suggestions:
        return f"{name}: unknown variable (did you mean {suggestions[0]}?)"
    return f"{name}: unknown variable"


def typo_guard_prefixes(domains: Iterable[str]) -> set[str]:
    """`VPIPE_` plus `<DOMAIN>_` for every settings domain other than core."""
    return {CORE_PREFIX} | {
        domain.upper().replace("-", "_") + "_" for domain in domains if domain != "core"
    }


def settings_problems(classes: Mapping[str, type], env: Mapping[str, str]) -> list[str]:
    """Every problem of the settings `classes` (domain → class) in `env`, plus both guards."""
    retired = retired_variables(classes.values())
    problems = retired_problems(env, retired)
    known_names: set[str] = set()
    for cls in classes.values():
        known_names.update(declared_names(cls))
        try:
            load_settings(cls, env)
        except ConfigError as exc:
            problems.extend(exc.problems)
    problems.extend(unknown_variables(env, known_names, typo_guard_prefixes(classes), retired))
    # Classes may share a variable; report its problem once.
    return list(dict.fromkeys(problems))
