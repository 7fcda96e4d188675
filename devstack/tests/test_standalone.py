"""The repository stands alone: no tracked file points at documents that live outside it.

Whoever clones the repository has ``docs/`` and nothing beside it, so comments, READMEs,
the chart and the workflows point into ``docs/`` (or say it in their own words), never at
a sibling folder or at specification files kept elsewhere.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from devstack.profiles import ROOT

# Spelt in pieces, so that this file does not match itself.
SIBLING_FOLDER = "../" + "shared"
OUTSIDE_DOCUMENTS = ("SP" + "EC", "ST" + "ACK", "ST" + "YLE")
FORBIDDEN = re.compile(
    "|".join(
        [
            re.escape(SIBLING_FOLDER),
            *(rf"\b{name}\.md\b" for name in OUTSIDE_DOCUMENTS),
            rf"\b{OUTSIDE_DOCUMENTS[0]}\b",  # the first one named without its extension, as in a section reference
        ]
    )
)


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in listing.decode().split("\0") if name]


def references(name: str) -> list[str]:
    """``line: text`` of each reference in one tracked file (binary and missing files have none)."""
    try:
        content = (ROOT / name).read_bytes()
    except (FileNotFoundError, IsADirectoryError):  # deleted in the working tree, or a submodule
        return []
    if b"\0" in content[:8000]:
        return []
    text = content.decode("utf-8", errors="replace")
    return [f"{number}: {line.strip()}" for number, line in enumerate(text.splitlines(), 1) if FORBIDDEN.search(line)]


def test_the_pattern_finds_what_it_should_and_nothing_else():
    spec, stack, style = OUTSIDE_DOCUMENTS
    for line in (f"see {SIBLING_FOLDER}/x", f"({spec} §3)", f"the {spec}'s ticket", f"{stack}.md", f"{style}.md"):
        assert FORBIDDEN.search(line), line
    for line in (f'"{spec}TACULAR_SETTINGS": {{', "spec:", "a spec of its own", "OpenAPI specification"):
        assert not FORBIDDEN.search(line), line


def test_no_tracked_file_refers_to_documents_outside_the_repository():
    found = {name: lines for name in tracked_files() if (lines := references(name))}

    assert not found, "References to documents outside the repository (point into docs/ instead):\n" + "\n".join(
        f"  {name}:{line}" for name, lines in sorted(found.items()) for line in lines
    )
