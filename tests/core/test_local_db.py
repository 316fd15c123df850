"""Instances of one worker start together and open the same new SQLite store at once: switching
it to WAL must not fail with "database is locked" (a chaos run on CI hit that)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from vpipe_core.ingest.dedup import DedupWindow
from vpipe_core.transfer.seen import TransferLog


def _open(args: tuple[str, str]) -> bool:
    path, kind = args
    store = TransferLog(Path(path), 60) if kind == "transfers" else DedupWindow(Path(path), 60, 10)
    del store
    return True


def test_many_processes_open_one_new_store_at_once(tmp_path: Path) -> None:
    opened = 0
    with multiprocessing.get_context("fork").Pool(8) as pool:
        for round_ in range(10):
            transfers, dedup = tmp_path / f"t{round_}.sqlite", tmp_path / f"d{round_}.sqlite"
            jobs = [(str(transfers), "transfers")] * 4 + [(str(dedup), "dedup")] * 4
            opened += sum(pool.map(_open, jobs))
    assert opened == 80
