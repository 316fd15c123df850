"""Names longer than a file system allows (issue 17 item 3): capped where they are built, and a
name that still comes through is a permanent failure, never a partition retried in place."""

from __future__ import annotations

import errno
from pathlib import Path

import orjson
import pytest

from vpipe_claimx.paths import media_blob_path, media_file_name
from vpipe_core.outcome import Category
from vpipe_core.transfer.cache_paths import UnsafeCachePath, cache_file
from vpipe_core.transfer.errors import INFRASTRUCTURE, DownloadError, local_disk
from vpipe_core.transfer.names import MAX_COMPONENT_BYTES, cap_component
from vpipe_xact.events import parse_event
from vpipe_xact.paths import attachments_of


def fits(component: str) -> bool:
    return len(component.encode()) <= MAX_COMPONENT_BYTES


@pytest.mark.parametrize(
    "name",
    ["a" * 300 + ".pdf", "é" * 200 + ".jpeg", "x" * 400, "a." + "b" * 300, "日本" * 100 + ".png"],
)
def test_a_long_name_is_capped_keeping_its_extension(name: str) -> None:
    capped = cap_component(name)
    assert fits(capped) and capped != name
    extension = name.rpartition(".")[2]
    if len(extension) <= 16 and "." in name:
        assert capped.endswith(f".{extension}")
    assert capped.startswith(name[:20])


def test_capping_keeps_short_names_and_distinguishes_long_ones() -> None:
    assert cap_component("a.pdf") == "a.pdf"
    assert cap_component("a" * MAX_COMPONENT_BYTES) == "a" * MAX_COMPONENT_BYTES
    assert cap_component("a" * 300 + "1.pdf") != cap_component("a" * 300 + "2.pdf")


def test_xact_names_and_blob_paths_fit_every_component() -> None:
    long_segment = "Front_" + "Elevation" * 40 + ".jpg"
    row = {
        "type": "verisk.claims.property.xn.documentsReceived",
        "utcDateTime": "2026-11-30T09:00:00Z",
        "traceId": "t" * 300,
        "data": {"assignmentId": "A" * 300, "attachments": [f"https://a.example/{long_segment}"]},
    }
    (attachment,) = attachments_of(parse_event(orjson.dumps(row)))
    assert fits(attachment.filename) and attachment.filename.endswith(".jpg")
    assert all(fits(part) for part in attachment.blob_path.split("/"))
    assert attachment.blob_path.endswith(attachment.filename)


def test_claimx_names_and_blob_paths_fit_every_component() -> None:
    name = media_file_name("IMG_" + "0" * 400 + ".jpg", 42, "jpg")
    assert fits(name) and name.endswith(".jpg")
    path = media_blob_path("7", "9" * 30, name)
    assert all(fits(part) for part in path.split("/"))


def test_the_cache_refuses_a_component_too_long_before_any_download(tmp_path: Path) -> None:
    with pytest.raises(UnsafeCachePath, match="over 255 bytes"):
        cache_file(tmp_path, "tdom/m1/" + "a" * 256)


@pytest.mark.parametrize(
    ("code", "category"),
    [(errno.ENAMETOOLONG, Category.PERMANENT), (errno.ENOSPC, INFRASTRUCTURE)],
)
def test_a_name_the_file_system_refuses_is_permanent(code: int, category: object) -> None:
    with pytest.raises(DownloadError) as caught, local_disk(Path("x")):
        raise OSError(code, "refused")
    assert caught.value.category == category
