"""The part file's helpers: the hashing thread (`PieceThread`), early writeback, `PartFile`."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from vpipe_core.transfer.errors import INFRASTRUCTURE, DownloadError
from vpipe_core.transfer.part_file import PartFile
from vpipe_core.transfer.pieces import PieceThread
from vpipe_core.transfer.writeback import WritebackHint

KIB = 1024


def test_pieces_are_consumed_in_order_on_another_thread() -> None:
    seen: list[bytes] = []
    threads: set[str] = set()

    def consume(piece: bytes) -> None:
        threads.add(threading.current_thread().name)
        seen.append(piece)

    pieces = PieceThread(consume, "consumer", depth=2)
    sent = [bytes([n]) * (n + 1) for n in range(50)]
    for piece in sent:
        pieces.put(piece)
    pieces.drain()
    assert seen == sent
    assert threads == {"consumer"}
    pieces.close()
    pieces.close()


def test_no_thread_without_a_piece() -> None:
    pieces = PieceThread(lambda piece: None, "idle")
    pieces.drain()
    pieces.close()
    assert not any(thread.name == "idle" for thread in threading.enumerate())


def test_a_failure_is_raised_in_the_callers_thread_and_later_pieces_are_dropped() -> None:
    seen: list[bytes] = []

    def consume(piece: bytes) -> None:
        if piece == b"bad":
            raise OSError(28, "No space left on device")
        seen.append(piece)

    pieces = PieceThread(consume, "failing")
    pieces.put(b"good")
    pieces.put(b"bad")
    with pytest.raises(OSError, match="No space"):
        pieces.drain()
    with pytest.raises(OSError, match="No space"):
        pieces.put(b"after")
    pieces.close()
    assert seen == [b"good"]


def test_writeback_hint_on_a_pipe_is_not_an_error() -> None:
    read_end, write_end = os.pipe()
    try:
        hint = WritebackHint(write_end, step=1)
        os.write(write_end, b"x" * 10)
        hint.written(10)  # sync_file_range fails (ESPIPE): a hint, never an error
        hint.written(20)
        assert os.read(read_end, 10) == b"x" * 10
    finally:
        os.close(read_end)
        os.close(write_end)


def test_part_file_hashes_and_publishes_every_piece(tmp_path: Path) -> None:
    pieces = [os.urandom(100 * KIB + n) for n in range(12)]
    dest = tmp_path / "done" / "a.mp4"
    with PartFile.open(tmp_path / "tmp" / "a.part") as part:
        part._writeback = WritebackHint(part._file.fileno(), step=256 * KIB)
        for piece in pieces:
            part.write(piece)
        part.publish(dest, fsync=True)
    body = b"".join(pieces)
    assert (part.size, part.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert dest.read_bytes() == body
    assert not (tmp_path / "tmp" / "a.part").exists()


def test_part_file_restart_forgets_what_was_hashed(tmp_path: Path) -> None:
    dest = tmp_path / "a.mp4"
    with PartFile.open(tmp_path / "tmp" / "a.part") as part:
        for _ in range(6):
            part.write(os.urandom(64 * KIB))
        part.restart()
        part.write(b"fresh")
        part.publish(dest, fsync=False)
    assert (part.size, part.sha256) == (5, hashlib.sha256(b"fresh").hexdigest())
    assert dest.read_bytes() == b"fresh"


def test_part_file_write_error_is_infrastructure(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    part_path = tmp_path / "tmp" / "a.part"
    part_path.parent.mkdir()
    part_path.symlink_to("/dev/full")
    with pytest.raises(DownloadError) as caught, PartFile.open(part_path) as part:
        for _ in range(4):
            part.write(os.urandom(64 * KIB))
        part.publish(tmp_path / "a.mp4", fsync=False)
    assert caught.value.category == INFRASTRUCTURE
    assert "ENOSPC" in caught.value.reason
