"""Where files go: DFS destination URIs and the relative paths an upload accepts."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from vpipe_core.storage.store import ErrorCategory, UploadError

MAX_PATH_CHARS = 1024
ONELAKE_HOST_SUFFIX = "onelake.dfs.fabric.microsoft.com"
ADLS_HOST_SUFFIX = ".dfs.core.windows.net"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


def parse_abfss(uri: str) -> tuple[str, str, str]:
    """Split a DFS destination into `(account_url, filesystem, base_path)`.

    Accepted: `abfss://<workspace>@onelake.dfs.fabric.microsoft.com/<item>/Files/<dir>`, the
    same as `https://onelake.dfs.fabric.microsoft.com/<workspace>/<item>/Files/<dir>`, ADLS Gen2
    accounts (`abfss://<fs>@<account>.dfs.core.windows.net/<dir>`), and loopback DFS endpoints
    (`http://127.0.0.1:<port>/<account>/<fs>/<dir>`, the test stand-in). OneLake destinations
    must lie under an item's `Files` folder. Anything else raises `ValueError`.
    """
    if "${" in uri:
        raise ValueError(f"unresolved variable in storage URI {uri!r}")
    parts = urlsplit(uri.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    segments = _segments(parts.path, uri)
    if scheme == "abfss":
        filesystem, at, _ = parts.netloc.rpartition("@")
        if not at or not filesystem:
            raise ValueError(f"expected abfss://<workspace>@<host>/<path>, got {uri!r}")
        _check_dfs_host(host, uri)
        account_url = f"https://{host}"
    elif scheme in ("https", "http") and host in LOOPBACK_HOSTS:
        if len(segments) < 2:
            raise ValueError(f"expected {scheme}://{host}:<port>/<account>/<fs>/..., got {uri!r}")
        account_url = f"{scheme}://{parts.netloc}/{segments.pop(0)}"
        filesystem = segments.pop(0)
    elif scheme == "https":
        _check_dfs_host(host, uri)
        if not segments:
            raise ValueError(f"no filesystem (workspace) in {uri!r}")
        account_url = f"https://{parts.netloc.lower()}"
        filesystem = segments.pop(0)
    else:
        raise ValueError(
            f"unsupported storage URI {uri!r}: expected abfss://<workspace>@"
            f"{ONELAKE_HOST_SUFFIX}/<lakehouse>.Lakehouse/Files/<dir> or file:///<dir>"
        )
    if host.endswith(ONELAKE_HOST_SUFFIX) and (len(segments) < 2 or segments[1] != "Files"):
        raise ValueError(
            f"OneLake destination must be under <lakehouse>.Lakehouse/Files/..., got {uri!r}"
        )
    return account_url, unquote(filesystem), "/".join(segments)


def _check_dfs_host(host: str, uri: str) -> None:
    if not (host.endswith(ONELAKE_HOST_SUFFIX) or host.endswith(ADLS_HOST_SUFFIX)):
        raise ValueError(
            f"not a DFS endpoint in {uri!r}: expected {ONELAKE_HOST_SUFFIX} or "
            f"<account>{ADLS_HOST_SUFFIX}"
        )


def _segments(path: str, uri: str) -> list[str]:
    segments = [unquote(s) for s in path.strip("/").split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise ValueError(f"'.' or '..' in storage path {uri!r}")
    return segments


_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_relative_path(relative_path: str) -> str:
    """`relative_path` when it stays inside its base directory; else a permanent `UploadError`.

    Refused: empty, absolute (`/x`, `C:x`), backslashes, control characters, `.`, `..` or empty
    segments, over 1024 characters.
    """
    problem = _relative_path_problem(relative_path)
    if problem:
        raise UploadError(
            ErrorCategory.PERMANENT, f"refused destination path {relative_path!r}: {problem}"
        )
    return relative_path


def _relative_path_problem(path: str) -> str | None:
    if not isinstance(path, str) or not path:
        return "empty"
    if path.startswith("/") or _DRIVE.match(path):
        return "absolute path"
    if "\\" in path:
        return "backslash"
    if _CONTROL.search(path):
        return "control character"
    if len(path) > MAX_PATH_CHARS:
        return f"longer than {MAX_PATH_CHARS} characters"
    if any(segment in ("", ".", "..") for segment in path.split("/")):
        return "empty, '.' or '..' segment"
    return None
