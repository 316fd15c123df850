"""The project cache (claimx.md §8): TTL, fill only after commit, preload spread, metrics."""

from __future__ import annotations

from vpipe_claimx import project_cache
from vpipe_claimx.project_cache import ProjectCache

ROW = {"project_id": "5517342", "project_number": "NW-2026-00418"}
TOPIC = "claimx.enrichment.pending"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counter(metric) -> float:
    return metric._value.get()


def test_an_entry_exists_only_after_its_record_is_committed():
    clock = Clock()
    cache = ProjectCache(1800, clock)
    assert cache.lookup("5517342") is None
    cache.stage((TOPIC, 0, 41), "5517342", ROW)
    assert cache.lookup("5517342") is None, "staged, not yet acknowledged"
    cache.on_commit({(TOPIC, 0): 41})
    assert cache.lookup("5517342") is None, "position 41 does not cover offset 41"
    cache.on_commit({(TOPIC, 1): 99})
    assert cache.lookup("5517342") is None, "another partition"
    cache.on_commit({(TOPIC, 0): 42})
    entry = cache.lookup("5517342")
    assert entry is not None and entry.row == ROW and len(cache) == 1


def test_entries_expire_after_the_ttl():
    clock = Clock()
    cache = ProjectCache(1800, clock)
    cache.stage((TOPIC, 0, 1), "1", ROW)
    cache.on_commit({(TOPIC, 0): 2})
    clock.now += 1799
    assert cache.lookup("1") is not None
    clock.now += 1
    assert cache.lookup("1") is None and len(cache) == 0


def test_ttl_zero_disables_the_cache():
    cache = ProjectCache(0, Clock())
    cache.stage((TOPIC, 0, 1), "1", ROW)
    cache.on_commit({(TOPIC, 0): 2})
    assert cache.preload(["1", "2"]) == 0
    assert cache.lookup("1") is None and len(cache) == 0 and not cache.enabled


def test_revoked_partitions_drop_their_staged_rows():
    cache = ProjectCache(1800, Clock())
    cache.stage((TOPIC, 0, 1), "1", ROW)
    cache.stage((TOPIC, 1, 1), "2", ROW)
    cache.release({(TOPIC, 0)})
    cache.on_commit({(TOPIC, 0): 5, (TOPIC, 1): 5})
    assert cache.lookup("1") is None
    assert cache.lookup("2") is not None


def test_preload_spreads_expiry_over_the_ttl_and_has_no_row_body():
    clock = Clock()
    spreads = iter([0.1, 0.5, 0.9])
    cache = ProjectCache(1000, clock, spread=lambda: next(spreads))
    assert cache.preload(["1", "2", "3", "3"]) == 3
    entry = cache.lookup("2")
    assert entry is not None and entry.row is None
    clock.now += 200
    assert [cache.lookup(p) is not None for p in ("1", "2", "3")] == [False, True, True]
    clock.now += 400
    assert [cache.lookup(p) is not None for p in ("2", "3")] == [False, True]


def test_hits_misses_and_size_metrics():
    cache = ProjectCache(1800, Clock())
    hits, misses = counter(project_cache.hits), counter(project_cache.misses)
    cache.lookup("1")
    cache.stage((TOPIC, 0, 1), "1", ROW)
    cache.on_commit({(TOPIC, 0): 2})
    cache.lookup("1")
    cache.lookup("1")
    assert counter(project_cache.hits) == hits + 2
    assert counter(project_cache.misses) == misses + 1
    assert project_cache.size._value.get() == 1


def test_read_project_ids_from_a_delta_table(tmp_path):
    import pyarrow as pa
    from deltalake import write_deltalake

    ids = pa.table({"project_id": ["5517342", None, "5520917"], "status": ["a", "b", "c"]})
    write_deltalake(str(tmp_path / "claimx_projects"), ids)
    assert project_cache.read_project_ids(str(tmp_path / "claimx_projects")) == [
        "5517342",
        "5520917",
    ]
