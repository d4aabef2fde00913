"""The history page's charts render in headless Chromium (as the run reports' do)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_report_browser import assert_charts_render, render_in_browser

from harness.analysis.changepoints import Thresholds
from harness.history import add_run, load_series, open_database
from harness.history.synthetic import write_planted_history
from harness.report.history import write_history_reports


@pytest.mark.slow
def test_history_page_charts_render_in_chromium(tmp_path: Path) -> None:
    repo, runs = write_planted_history(tmp_path / "planted")
    db = open_database(tmp_path / "h.sqlite")
    try:
        for path in runs:
            add_run(db, path, repo=repo)
        series = load_series(db)
    finally:
        db.close()
    page, _ = write_history_reports(series, Thresholds(), tmp_path / "report")
    assert_charts_render(render_in_browser(page, tmp_path), len(series))
