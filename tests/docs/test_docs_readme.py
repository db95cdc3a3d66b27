"""README.md is short product text: at most 150 lines of at most 120 characters, without
issue-tracker references or wording about how the work is organised."""

from __future__ import annotations

import re

from docs_helpers import ROOT

README = (ROOT / "README.md").read_text()
BANNED = [
    (r"\bissues?\b", "the word 'issue'"),
    (r"#\d+\b", "an issue number"),
    (r"\bdone when\b", "'Done when'"),
    (r"\b(?:the )?(?:ceo|team|session|reviewer|review)s?\b", "wording about how the team works"),
]


def test_at_most_150_lines():
    assert len(README.splitlines()) <= 150


def test_no_line_over_120_characters():
    long = [(i, len(line)) for i, line in enumerate(README.splitlines(), 1) if len(line) > 120]
    assert not long, f"lines over 120 characters (line, length): {long}"


def test_no_tracker_or_process_wording():
    found = [(what, m.group(0)) for pattern, what in BANNED for m in re.finditer(pattern, README, flags=re.IGNORECASE)]
    assert not found, f"README mentions {found}"


def test_has_the_sections_a_new_user_needs():
    for heading in ("## Install", "## A short example", "## What it does", "## Citing", "## Contributing"):
        assert heading in README
    assert "make demo" in README and "make test" in README
