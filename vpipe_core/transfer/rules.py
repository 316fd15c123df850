"""Allowed extensions and accepted content types, as configuration.

The defaults below are data. `TypeRules.from_file(path)` reads a JSON object mapping an
extension to its accepted media types; each extension it names replaces that extension's
default entry (the others keep theirs), and `"octet"` stands for both octet-stream types:

    {"esx": ["octet", "application/zip"], "heic": ["image/heic"]}

A mismatch between the extension and the response's content type is a transient failure (an
HTML or XML error page); an extension outside the allowed set is permanent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qsl, urlsplit

OCTET = "octet"
OCTET_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
_ZIP = "application/zip"
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

DEFAULT_CONTENT_TYPES: Mapping[str, tuple[str, ...]] = {
    "pdf": ("application/pdf",),
    "xml": ("application/xml", "text/xml"),
    "txt": ("text/plain",),
    "html": ("text/html",),
    "htm": ("text/html",),
    "jpg": ("image/jpeg",),
    "jpeg": ("image/jpeg",),
    "png": ("image/png",),
    "gif": ("image/gif",),
    "bmp": ("image/bmp",),
    "tif": ("image/tiff",),
    "tiff": ("image/tiff",),
    "webp": ("image/webp",),
    "mov": ("video/quicktime",),
    "mp4": ("video/mp4",),
    "esx": (OCTET, _ZIP),
    "doc": ("application/msword", OCTET),
    "docx": (_DOCX, OCTET, _ZIP),
    "xls": ("application/vnd.ms-excel", OCTET),
    "xlsx": (_XLSX, OCTET),
    "csv": ("text/csv", "application/csv", "text/plain", OCTET),
    "json": ("application/json", "text/plain", OCTET),
}
DEFAULT_EXTENSIONS: tuple[str, ...] = tuple(DEFAULT_CONTENT_TYPES)
FILENAME_PARAMETERS = ("filename", "file", "name")
_EXTENSION = re.compile(r"[a-z0-9]{1,16}")


class ExtensionRejected(Exception):
    """No allowed extension in the URL: a permanent failure."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RulesFileError(ValueError):
    """The type rules file is unreadable or malformed (a configuration error)."""


def _normalise_extension(extension: str) -> str:
    return extension.strip().lower().lstrip(".")


def _media_types(values: Iterable[str]) -> frozenset[str]:
    types: set[str] = set()
    for value in values:
        media = media_type(value)
        if media == OCTET:
            types |= OCTET_TYPES
        elif media:
            types.add(media)
    return frozenset(types)


def media_type(header: str) -> str:
    """`Text/HTML; charset=UTF-8` -> `text/html`."""
    return header.split(";", 1)[0].strip().lower()


def split_segment(segment: str) -> tuple[str, str | None]:
    """The naming rule for a URL's last path segment, as written (not percent-decoded), shared
    by the enrichers (file names) and the download workers (the extension check): the name is
    the part before the last `.` (`unknown` when empty: `.JPG` is an unnamed JPG), the extension
    the part after it (None without a `.` or with nothing after it)."""
    name, dot, extension = segment.rpartition(".")
    if not dot:
        return segment or "unknown", None
    return name or "unknown", extension or None


def extension_of(name: str) -> str | None:
    """The lower-cased extension of the last segment of `name` if it is a usable one, or None."""
    _, extension = split_segment(PurePosixPath(name).name)
    if extension is None or not _EXTENSION.fullmatch(extension.lower()):
        return None
    return extension.lower()


def url_extension(url: str) -> str | None:
    """From the last path segment, else the query's `filename`/`file`/`name`."""
    split = urlsplit(url)
    found = extension_of(split.path)
    if found is not None:
        return found
    params = {name.lower(): value for name, value in parse_qsl(split.query)}
    for name in FILENAME_PARAMETERS:
        if name in params and (found := extension_of(params[name])) is not None:
            return found
    return None


class TypeRules:
    """Allowed extensions, and the media types accepted for each.

    An allowed extension without a content-type entry accepts any content type.
    """

    def __init__(
        self,
        content_types: Mapping[str, Iterable[str]] = DEFAULT_CONTENT_TYPES,
        extensions: Iterable[str] | None = None,
    ) -> None:
        self.content_types: dict[str, frozenset[str]] = {
            _normalise_extension(ext): _media_types(types) for ext, types in content_types.items()
        }
        chosen = self.content_types if extensions is None else extensions
        self.extensions = frozenset(_normalise_extension(ext) for ext in chosen)

    @classmethod
    def from_file(cls, path: Path | str, extensions: Iterable[str] | None = None) -> TypeRules:
        """The defaults with the entries of the JSON file at `path` replacing theirs."""
        overrides = _read_rules_file(Path(path))
        merged: dict[str, Iterable[str]] = dict(DEFAULT_CONTENT_TYPES)
        merged.update(overrides)
        if extensions is None:
            extensions = [*DEFAULT_EXTENSIONS, *overrides]
        return cls(merged, extensions)

    def check_extension(self, url: str) -> str:
        """The URL's allowed extension, or `ExtensionRejected`."""
        extension = url_extension(url)
        if extension is None:
            raise ExtensionRejected("no file extension in the URL")
        if extension not in self.extensions:
            raise ExtensionRejected(f"extension {extension!r} is not allowed")
        return extension

    def content_type_ok(self, extension: str, header: str | None) -> bool:
        """Whether a response's `Content-Type` fits the extension; a missing header fits."""
        if header is None or not media_type(header):
            return True
        accepted = self.content_types.get(_normalise_extension(extension))
        return accepted is None or media_type(header) in accepted


def _read_rules_file(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RulesFileError(f"cannot read type rules {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise RulesFileError(f"type rules {path}: expected an object of extension -> types")
    rules: dict[str, list[str]] = {}
    for extension, types in data.items():
        valid = isinstance(types, list) and types and all(isinstance(t, str) for t in types)
        if not valid or not _normalise_extension(extension):
            raise RulesFileError(f"type rules {path}: {extension!r} needs a list of media types")
        rules[_normalise_extension(extension)] = types
    return rules
