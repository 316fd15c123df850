"""Every shell block in README.md and docs/*.md is either run here or says why it is not (issue
21): a `<!-- shell: ... -->` line right above each ```bash block. Blocks marked `run by` this file
run line by line from the repository root, with this interpreter's tools first on PATH."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_facts import REPO

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_FENCE = re.compile(r"^```(bash|sh|shell|console)\s*$")
MARKER = re.compile(r"^<!-- shell: (?P<text>.+) -->$")
RUN = "run by tests/deploy/test_doc_commands.py"
NOT_RUN = re.compile(r"^not run by the tests( as written)?: \S")


def shell_blocks() -> list[tuple[str, str, list[str]]]:
    """(where, marker text or "", command lines) of every shell block."""
    blocks = []
    for document in DOCUMENTS:
        lines = document.read_text().splitlines()
        for index, line in enumerate(lines):
            if not SHELL_FENCE.match(line):
                continue
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            marker = MARKER.match(lines[index - 1]) if index else None
            where = f"{document.relative_to(REPO)}:{index + 1}"
            blocks.append((where, marker["text"] if marker else "", lines[index + 1 : end]))
    return blocks


def test_every_shell_block_is_run_or_says_why_not():
    unmarked = [
        where for where, text, _ in shell_blocks() if text != RUN and not NOT_RUN.match(text)
    ]
    assert not unmarked, f"add <!-- shell: {RUN} --> or <!-- shell: not run by the tests: why -->"


RUNNABLE = [(where, lines) for where, text, lines in shell_blocks() if text == RUN]


@pytest.mark.parametrize(("where", "lines"), RUNNABLE, ids=[where for where, _ in RUNNABLE])
def test_runnable_blocks_succeed(where: str, lines: list[str]):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for line in lines:
        command = line.split(" #", 1)[0].strip()
        if not command:
            continue
        done = subprocess.run(
            ["bash", "-c", command], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{where}: {command}\n{done.stdout}\n{done.stderr}"
