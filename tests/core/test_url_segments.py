"""One rule for a URL's last path segment, used by the enricher's names and the downloader's
extension check: the edge cases of the naming rule."""

from __future__ import annotations

import pytest

from vpipe_core.transfer.rules import TypeRules, extension_of, split_segment
from vpipe_xact.paths import base_name, file_type

CASES = [
    # segment, (name, extension), XACT file type, allowed by the download worker
    ("report.pdf", ("report", "pdf"), "PDF", True),
    ("README", ("README", None), "UNKNOWN", False),
    (".JPG", ("unknown", "JPG"), "JPG", True),
    ("estimate.v2.final.esx", ("estimate.v2.final", "esx"), "ESX", True),
    ("photo.", ("photo", None), "UNKNOWN", False),
    ("photo%2Ejpg", ("photo%2Ejpg", None), "UNKNOWN", False),  # as written, not decoded
    ("Front.JPEG", ("Front", "JPEG"), "JPEG", True),
    ("", ("unknown", None), "UNKNOWN", False),
    (".", ("unknown", None), "UNKNOWN", False),
]


@pytest.mark.parametrize(("segment", "split", "kind", "allowed"), CASES)
def test_the_enricher_and_the_downloader_read_a_segment_alike(segment, split, kind, allowed):
    assert split_segment(segment) == split
    assert (base_name(segment), file_type(segment)) == (split[0], kind)
    url = f"https://files.example/claims/7731/{segment}"
    assert (extension_of(url) is not None) == allowed
    if allowed:
        assert TypeRules().check_extension(url) == split[1].lower()
