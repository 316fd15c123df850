"""What `vpipe trace` reads besides topics: the rows of an event's ids in a Delta table, and
whether each file it names is in its destination."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from vpipe_core.lineage.query import By, Query
from vpipe_core.lineage.scan import Hop, read_files, read_rows
from vpipe_core.storage import make_store


def write_table(path: Path) -> str:
    rows = pa.table(
        {
            "event_id": ["e1", "e2", "e3", "e'4"],
            "media_id": ["m1", "m2", None, "m4"],
            "attempts": [1, 2, 3, 4],
        }
    )
    write_deltalake(str(path), rows)
    return str(path)


def found(uri: str, query: Query) -> list[dict]:
    return [dict(hop.detail) for hop in read_rows([("t", uri, None)], query, lambda _: None)]


def test_rows_of_the_query_ids_only(tmp_path):
    uri = write_table(tmp_path / "t")
    by_event = Query(By.EVENT_ID, "e2")
    assert [row["media_id"] for row in found(uri, by_event)] == ["m2"]
    by_media = Query(By.MEDIA_ID, "m1")
    by_media.event_ids.add("e3")  # an id the topics gave
    assert sorted(row["event_id"] for row in found(uri, by_media)) == ["e1", "e3"]
    assert [row["event_id"] for row in found(uri, Query(By.EVENT_ID, "e'4"))] == ["e'4"]
    assert found(uri, Query(By.PROJECT_ID, "p1")) == []  # no project column, no id found


def test_an_unreadable_table_is_a_hop_saying_so(tmp_path):
    hops = list(read_rows([("t", str(tmp_path / "none"), None)], Query(By.EVENT_ID, "e1"), print))
    assert [hop.where for hop in hops] == ["t"]
    assert hops[0].detail["error"].startswith("not read:")


def test_each_named_file_once_with_whether_it_landed(tmp_path):
    (tmp_path / "xact" / "a").mkdir(parents=True)
    (tmp_path / "xact" / "a" / "here.pdf").write_bytes(b"x")
    destination = f"file://{tmp_path}/xact"
    store = make_store(destination, None, 5, 1)
    hops = [
        Hop("topic", "xact.downloads.results[0]@1", 1, detail={"blob_path": "a/here.pdf"}),
        Hop("row", "xact_attachments", 2, detail={"blob_path": "a/here.pdf"}),
        Hop("row", "xact_attachments", 3, detail={"blob_path": "a/gone.pdf"}),
        Hop("row", "other", 3, detail={"blob_path": "b/elsewhere.pdf"}),
    ]
    domains = {"xact.downloads.results": "xact", "xact_attachments": "xact"}

    def domain_of(hop: Hop) -> str | None:
        return domains.get(hop.where.rpartition("[")[0] or hop.where)

    files = list(read_files(hops, domain_of, lambda _: (destination, store), lambda _: None))
    assert [(hop.where, hop.detail["exists"]) for hop in files] == [
        (f"{destination}/a/here.pdf", True),
        (f"{destination}/a/gone.pdf", False),
    ]


def test_a_bad_destination_is_shown_on_the_file(tmp_path):
    def broken(_domain: str) -> tuple[str, object]:
        raise ValueError("ONELAKE_BASE_PATH: expected abfss://… or file:///<dir>")

    hop = Hop("row", "t", 1, detail={"blob_path": "a/b.pdf"})
    [file] = read_files([hop], lambda _: "xact", broken, lambda _: None)
    assert file.where == "a/b.pdf"
    assert "ONELAKE_BASE_PATH" in file.detail["error"]
