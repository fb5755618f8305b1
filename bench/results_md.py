"""bench/RESULTS.md is shared: each benchmark owns one '## ' section of it and leaves the other
sections byte for byte as they are."""

from __future__ import annotations

import re
from pathlib import Path


def read_results(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"


def section_span(text: str, heading: str, intro: str) -> tuple[str, int, int]:
    """``(text, start, end)`` of the section under ``heading``: from the heading to the next
    '## ' heading or the end. A missing section is appended first, with ``intro`` under it."""
    m = re.search(rf"^{re.escape(heading)}[ \t]*$", text, flags=re.M)
    if m is None:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{intro}\n"
        m = re.search(rf"^{re.escape(heading)}[ \t]*$", text, flags=re.M)
    nxt = re.search(r"^## ", text[m.end():], flags=re.M)
    return text, m.start(), (m.end() + nxt.start() if nxt else len(text))
