"""vpipe_core knows no domain: no domain's name, host or variable in its code or its words
(each domain declares its own through the plugin API: settings classes, worker specs)."""

from __future__ import annotations

import re
from pathlib import Path

import vpipe_core

CORE = Path(vpipe_core.__file__).parent
# The names alone or inside identifiers (`XACT_`, `vpipe_claimx`), not `exactly`; the hosts.
DOMAIN_WORDS = re.compile(r"(?<![a-z])(xact|claimx)(?![a-z])|xactware|claimxperience", re.I)


def _checked_files() -> list[Path]:
    return [
        path
        for path in sorted(CORE.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    ]


def test_no_domain_word_in_vpipe_core() -> None:
    found = [
        f"{path.relative_to(CORE)}:{number}: {line.strip()}"
        for path in _checked_files()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if DOMAIN_WORDS.search(line)
    ]
    assert found == []
