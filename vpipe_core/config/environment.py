"""The effective environment: the process environment over the optional `.env` file, expanded,
and where each value came from (runtime.md §7)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import attrs

from vpipe_core.config.envfile import EnvFileError, ExpansionError, expand_references, read_env_file
from vpipe_core.config.loader import ConfigError

ENV_FILE_VARIABLE = "VPIPE_ENV_FILE"
DEFAULT_ENV_FILE = Path("/opt/kafka-pipeline/config/.env")


@attrs.frozen
class EffectiveEnvironment:
    values: dict[str, str]
    from_file: frozenset[str]  # names whose value came from the .env file
    env_file: Path | None  # the file that was read, None when the default file is absent
    problems: tuple[str, ...] = ()  # lines and references that could not be read (left out)


def load_environment(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> EffectiveEnvironment:
    """The process environment over the `.env` file, expanded, and where each value came from."""
    process = dict(os.environ if environ is None else environ)
    path, named_by = _env_file_location(process, env_file)
    problems: list[str] = []
    file_values = _read_file_layer(path, named_by, process, problems)
    file_layer = file_values if file_values is not None else {}
    process_values = _expand_process_values(process, file_layer, problems)
    return EffectiveEnvironment(
        values={**file_layer, **process_values},
        from_file=frozenset(file_layer.keys() - process_values.keys()),
        env_file=None if file_values is None else path,
        problems=tuple(problems),
    )


def effective_environment(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> dict[str, str]:
    """Process environment (default `os.environ`) over the `.env` file; raises ConfigError."""
    environment = load_environment(environ, env_file)
    if environment.problems:
        raise ConfigError(list(environment.problems))
    return environment.values


def _env_file_location(
    process: Mapping[str, str], env_file: Path | None
) -> tuple[Path, str | None]:
    """The file to read and who named it (None for the default file, which may be absent)."""
    if env_file is not None:
        return env_file, "--env-file"
    named = process.get(ENV_FILE_VARIABLE, "").strip()
    if named:
        return Path(named), ENV_FILE_VARIABLE
    return default_env_file(), None


def default_env_file() -> Path:
    """The `.env` of the install this interpreter belongs to (`<install dir>/venv` next to
    `<install dir>/config/.env`, whatever `install.sh --install-dir` was), else
    DEFAULT_ENV_FILE."""
    beside_venv = Path(sys.prefix).parent / "config" / ".env"
    return beside_venv if beside_venv.is_file() else DEFAULT_ENV_FILE


def _read_file_layer(
    path: Path, named_by: str | None, process: Mapping[str, str], problems: list[str]
) -> dict[str, str] | None:
    """The file's values (its unreadable lines left out, in `problems`), None when the default
    file is absent."""
    try:
        return read_env_file(path, process)
    except FileNotFoundError:
        if named_by is None:
            return None
        raise ConfigError([f"env file {path} does not exist (named by {named_by})"]) from None
    except EnvFileError as exc:
        problems.extend(exc.problems)
        return exc.values


def _expand_process_values(
    process: Mapping[str, str], file_values: Mapping[str, str], problems: list[str]
) -> dict[str, str]:
    expanded: dict[str, str] = {}
    for name, value in process.items():
        # Names that are not identifiers (exported shell functions such as `BASH_FUNC_module%%`)
        # hold shell code, not configuration; expanding them would report `${x+y}` as errors.
        if "${" not in value or not name.isidentifier():
            expanded[name] = value
            continue
        try:
            expanded[name] = expand_references(value, (process, file_values))
        except ExpansionError as exc:
            problems.append(f"{name}: {exc} (process environment)")
    return expanded
