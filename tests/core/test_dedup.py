"""The persistent dedup window: holds, durable marks on commit, window and size limits."""

from __future__ import annotations

import time

from vpipe_core.ingest.dedup import DedupWindow

P0 = ("topic", 0)


def test_a_hold_is_not_its_own_duplicate_and_becomes_durable_on_commit(tmp_path):
    window = DedupWindow(tmp_path / "d.sqlite", 3600, 1000)
    assert not window.is_duplicate("a", P0, 5)
    window.hold("a", P0, 5)
    assert not window.is_duplicate("a", P0, 5), "the same record handled again"
    assert window.is_duplicate("a", P0, 6), "another record with the key"
    window.on_commit({P0: 5})
    window.close()
    reopened = DedupWindow(tmp_path / "d.sqlite", 3600, 1000)
    assert not reopened.is_duplicate("a", P0, 9), "not committed past offset 5: not durable"


def test_committed_marks_survive_a_restart_and_released_holds_do_not(tmp_path):
    window = DedupWindow(tmp_path / "d.sqlite", 3600, 1000)
    for offset, key in enumerate(["a", "b", "c"]):
        window.hold(key, P0, offset)
    window.hold("x", ("topic", 1), 0)
    window.release({("topic", 1)})
    window.on_commit({P0: 3, ("topic", 1): 1})
    window.close()
    reopened = DedupWindow(tmp_path / "d.sqlite", 3600, 1000)
    assert all(reopened.is_duplicate(key, P0, 99) for key in "abc")
    assert not reopened.is_duplicate("x", P0, 99)


def test_purge_applies_the_window_and_the_size_cap(tmp_path):
    window = DedupWindow(tmp_path / "d.sqlite", 3600, 2)
    for offset, key in enumerate(["old", "b", "c"]):
        window.hold(key, P0, offset)
    window.on_commit({P0: 3})
    window.purge(time.time())
    kept = [key for key in ["old", "b", "c"] if window.is_duplicate(key, P0, 99)]
    assert len(kept) == 2
    window.purge(time.time() + 7200)
    assert not any(window.is_duplicate(key, P0, 99) for key in ["old", "b", "c"])
