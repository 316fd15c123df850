"""ClaimX media file names and blob paths (claimx.md §10.2)."""

import pytest

from vpipe_claimx.paths import media_blob_path, media_file_name


@pytest.mark.parametrize(
    ("name", "media_id", "media_type", "expected"),
    [
        ("IMG_0001.jpg", "98810452", "jpg", "IMG_0001.jpg"),
        ("walkthrough_kitchen", 98810473, "mp4", "walkthrough_kitchen.mp4"),
        ("a/b\\c\x07d.png", "1", "png", "a_b_c_d.png"),
        (None, "98810452", "jpg", "media_98810452.jpg"),
        ("   ", "98810452", None, "media_98810452"),
        ("..", "7", "pdf", "media_7.pdf"),
        (".hidden", "7", "pdf", ".hidden.pdf"),
        ("report.", "7", "pdf", "report..pdf"),
        ("x", "7", "../evil", "x._evil"),
    ],
)
def test_media_file_name(name, media_id, media_type, expected):
    assert media_file_name(name, media_id, media_type) == expected


def test_blob_paths_are_unique_per_media():
    name = media_file_name("IMG_0001.jpg", "98810452", "jpg")
    assert media_blob_path("5517342", "98810452", name) == "5517342/media/98810452_IMG_0001.jpg"
    assert media_blob_path(5517342, 98810467, name) == "5517342/media/98810467_IMG_0001.jpg"


@pytest.mark.parametrize(
    ("project_id", "media_id", "file_name"),
    [("55x", "1", "a.jpg"), ("1", None, "a.jpg"), ("1", "2", "a/b.jpg"), ("1", "2", "")],
)
def test_blob_path_rejects_unsafe_parts(project_id, media_id, file_name):
    with pytest.raises(ValueError):
        media_blob_path(project_id, media_id, file_name)
