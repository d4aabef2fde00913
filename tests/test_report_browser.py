"""Open the HTML reports in a real headless Chromium and check that every chart renders.

The page is loaded from a file with networking disabled; a probe script (added to a
copy of the page, with the Content-Security-Policy widened only to let that inline
script run) waits for load, then checks each image: decoded, non-zero natural size,
and drawn with real content (many distinct colours, not a blank or broken image).

Chromium comes from Debian's ``chromium`` package (``apt-get install -y chromium``;
CI installs it). Without it the test skips here, but fails where
EVENTBENCH_REQUIRE_BROWSER=1 (CI), so it can never silently not run there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from results_factory import make_results

from harness.compare import compare_results
from harness.report import write_comparison_reports, write_reports

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

PROBE = """
<script>
window.addEventListener("load", () => {
  const report = [];
  for (const img of document.images) {
    const entry = {alt: img.alt, complete: img.complete,
                   width: img.naturalWidth, height: img.naturalHeight, colours: 0, ink: 0};
    if (img.complete && img.naturalWidth > 0) {
      const canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(img, 0, 0);
      const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      const seen = new Set();
      let ink = 0;
      for (let i = 0; i < data.length; i += 4) {
        const rgb = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        seen.add(rgb);
        if (rgb !== 0xffffff) ink++;
      }
      entry.colours = seen.size;
      entry.ink = ink / (canvas.width * canvas.height);
    }
    report.push(entry);
  }
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
});
</script>
"""


def find_browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    message = "Chromium is not installed: `apt-get install -y chromium` (Debian) to run this"
    if os.environ.get("EVENTBENCH_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def render_in_browser(page: Path, tmp_path: Path) -> list[dict[str, object]]:
    html = page.read_text()
    probed = page.with_name(page.stem + ".probe.html")
    # Widen the policy just enough for the probe; images still load only from data:.
    html = html.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")
    probed.write_text(html.replace("</body>", PROBE + "</body>"))
    command = [
        find_browser(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        probed.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, flags=re.S)
    assert found, f"the probe did not run (status {done.returncode}):\n{done.stderr[-2000:]}"
    report: list[dict[str, object]] = json.loads(
        found.group(1).replace("&quot;", '"').replace("&amp;", "&")
    )
    return report


def assert_charts_render(report: list[dict[str, object]], expected: int) -> None:
    assert len(report) == expected
    for chart in report:
        assert chart["complete"] is True, chart
        assert isinstance(chart["width"], int) and chart["width"] >= 300, chart
        assert isinstance(chart["height"], int) and chart["height"] >= 200, chart
        # Axes, text, lines and markers in several colours: not blank, not one flat fill.
        assert isinstance(chart["colours"], int) and chart["colours"] > 50, chart
        assert isinstance(chart["ink"], float) and 0.01 < chart["ink"] < 0.9, chart


@pytest.mark.slow
def test_run_report_charts_render_in_chromium(tmp_path: Path) -> None:
    _, page, _ = write_reports(make_results(sizes=(10_000, 100_000)), tmp_path, "run")
    expected = page.read_text().count("<img")
    assert expected == 7
    assert_charts_render(render_in_browser(page, tmp_path), expected)


@pytest.mark.slow
def test_comparison_report_charts_render_in_chromium(tmp_path: Path) -> None:
    base = make_results(seed=1, sizes=(10_000, 100_000))
    head = make_results(seed=2, sizes=(10_000, 100_000))
    _, page, _ = write_comparison_reports(compare_results(base, head), tmp_path, "cmp")
    # One ratio chart per metric measured: time, first event, peak memory, allocations.
    assert_charts_render(render_in_browser(page, tmp_path), 4)
