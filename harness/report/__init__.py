"""Reports of runs and comparisons: Markdown, a self-contained HTML page with charts, JSON.

Reports are pure functions of results files: the runner calls `write_reports` at the
end of ``eventbench run``; ``eventbench report RESULTS.json`` calls it again later, and
``eventbench compare`` calls `write_comparison_reports`.
"""

from __future__ import annotations

from harness.report.comparison import write_comparison_reports
from harness.report.run import write_reports

__all__ = ["write_comparison_reports", "write_reports"]
