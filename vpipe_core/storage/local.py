"""Uploads into a local directory (the demo's destination, `file:///<dir>`, or a directory that
every host mounts)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from vpipe_core.storage.paths import safe_relative_path
from vpipe_core.storage.store import MIB, ErrorCategory, UploadError, UploadResult


class FileStore:
    """Uploads into a local directory: temp file in the target directory, fsync, rename.
    Promotes with `os.replace` (the staged file and its destination share the root)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def target(self, relative_path: str) -> Path:
        """The file `relative_path` names below the root (checked, not yet resolved)."""
        return self.root.joinpath(*safe_relative_path(relative_path).split("/"))

    def upload(
        self,
        local_path: str | os.PathLike[str],
        relative_path: str,
        *,
        content_type: str | None = None,
        in_place: bool = False,  # a local rename costs nothing: always atomic here
    ) -> UploadResult:
        target = self.target(relative_path)
        with open(local_path, "rb") as source:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._check_inside_root(target.parent, relative_path)
                size, sha256 = _copy_atomically(source, target)
            except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
                raise UploadError(ErrorCategory.PERMANENT, f"cannot write {target}: {exc}") from exc
            except OSError as exc:
                raise UploadError(ErrorCategory.TRANSIENT, f"cannot write {target}: {exc}") from exc
        return UploadResult(path=str(target), bytes=size, sha256=sha256)

    def promote(self, staged_path: str, relative_path: str) -> str:
        staged, target = self.target(staged_path), self.target(relative_path)
        try:
            self._check_inside_root(staged.parent, staged_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            self._check_inside_root(target.parent, relative_path)
            os.replace(staged, target)
        except FileNotFoundError:
            if staged.is_file():
                raise UploadError(ErrorCategory.TRANSIENT, f"cannot move onto {target}") from None
            raise
        except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
            raise UploadError(ErrorCategory.PERMANENT, f"cannot move onto {target}: {exc}") from exc
        except OSError as exc:
            raise UploadError(ErrorCategory.TRANSIENT, f"cannot move onto {target}: {exc}") from exc
        return str(target)

    def exists(self, relative_path: str) -> bool:
        return self.target(relative_path).is_file()

    def close(self) -> None:
        pass

    def _check_inside_root(self, directory: Path, relative_path: str) -> None:
        if not directory.resolve().is_relative_to(self.root.resolve()):
            raise UploadError(
                ErrorCategory.PERMANENT,
                f"refused destination path {relative_path!r}: leaves {self.root} via a link",
            )


def _copy_atomically(source: BinaryIO, target: Path) -> tuple[int, str]:
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(MIB):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()
