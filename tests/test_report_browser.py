"""Open the HTML reports in a real headless Chromium: every chart renders, the page reads.

The page is loaded from a file with networking disabled; a probe script (added to a
copy of the page, with the Content-Security-Policy widened only to let that inline
script run) waits for load, then checks each image (decoded, non-zero natural size,
drawn with real content: many distinct colours, not a blank or broken image; a
descriptive alt text) and the layout at 1400 and 800 px wide (no sideways scrolling,
no table wider than its box at 1400 px, the headline sentence first, parameters
folded). Full-page screenshots are taken at both widths; set
EVENTBENCH_SCREENSHOT_DIR to keep them and look.

Chromium comes from Debian's ``chromium`` package (``apt-get install -y chromium``;
CI installs it). Without it the test skips here, but fails where
EVENTBENCH_REQUIRE_BROWSER=1 (CI), so it can never silently not run there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from results_factory import make_results

from harness.analysis.compare import compare_results
from harness.report import write_comparison_reports, write_reports
from harness.report.summary import summarize

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
  const root = document.documentElement;
  const layout = {
    viewport: window.innerWidth,
    pageWidth: root.scrollWidth,
    pageHeight: root.scrollHeight,
    firstParagraph: (() => {
      const p = document.querySelector("body p");
      return p ? {cls: p.className, text: p.textContent} : null;
    })(),
    firstList: (() => {
      const ul = document.querySelector("body ul");
      return ul ? ul.textContent : "";
    })(),
    // Each table against the box it sits in: wider than its box means it overflows.
    tables: [...document.querySelectorAll("table")].map((t) => ({
      width: Math.ceil(t.getBoundingClientRect().width),
      box: t.parentElement.clientWidth,
      header: t.querySelector("th") ? t.querySelector("tr").textContent : "",
      // A row taller than two lines of text has cells wrapping badly.
      tallestRow: Math.max(...[...t.querySelectorAll("tbody tr")].map(
        (r) => r.getBoundingClientRect().height), 0),
      lineHeight: parseFloat(getComputedStyle(t).fontSize) * 1.5,
    })),
    details: [...document.querySelectorAll("details")].map((d) => ({
      open: d.open,
      summary: d.querySelector("summary").textContent,
      // Folded: the element is no taller than its summary line, its content not shown.
      extraHeight: d.getBoundingClientRect().height
        - d.querySelector("summary").getBoundingClientRect().height,
      contentShown: [...d.children].filter((c) => c.tagName !== "SUMMARY")
        .some((c) => c.checkVisibility()),
    })),
  };
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images: report, layout: layout});
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


def chromium(
    tmp_path: Path, width: int, height: int, *args: str
) -> subprocess.CompletedProcess[str]:
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
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={width},{height}",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--virtual-time-budget=10000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def render_in_browser(page: Path, tmp_path: Path, width: int = 1400) -> dict[str, Any]:
    """Load ``page`` at ``width`` CSS pixels and return what the probe saw:
    ``{"images": [...], "layout": {...}}``."""
    html = page.read_text()
    probed = page.with_name(page.stem + ".probe.html")
    # Widen the policy just enough for the probe; images still load only from data:.
    html = html.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")
    probed.write_text(html.replace("</body>", PROBE + "</body>"))
    done = chromium(tmp_path, width, 1000, "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, flags=re.S)
    assert found, f"the probe did not run (status {done.returncode}):\n{done.stderr[-2000:]}"
    text = found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    report: dict[str, Any] = json.loads(text.replace("&amp;", "&"))
    return report


def screenshot(page: Path, tmp_path: Path, width: int, height: int) -> Path:
    """The whole page as Chromium draws it at ``width``, as a PNG. Kept in
    $EVENTBENCH_SCREENSHOT_DIR when that is set, to look at by eye."""
    keep = os.environ.get("EVENTBENCH_SCREENSHOT_DIR")
    out = (Path(keep) if keep else tmp_path) / f"{page.stem}-{width}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    done = chromium(tmp_path, width, height, f"--screenshot={out}", page.as_uri())
    assert out.exists(), f"no screenshot (status {done.returncode}):\n{done.stderr[-2000:]}"
    return out


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def assert_charts_render(report: dict[str, Any], expected: int) -> None:
    images = report["images"]
    assert len(images) == expected
    for chart in images:
        # Every chart says what it shows, generated from its series: not empty, not generic.
        assert isinstance(chart["alt"], str) and len(chart["alt"]) > 60, chart
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
@pytest.mark.parametrize("width", [1400, 800])
def test_run_report_reads_well_at_1400_and_800_px(tmp_path: Path, width: int) -> None:
    results = make_results(sizes=(10_000, 100_000, 1_000_000))
    _, page, _ = write_reports(results, tmp_path, "run")
    report = render_in_browser(page, tmp_path, width)
    layout = report["layout"]
    assert layout["viewport"] == width
    # The page never scrolls sideways; at 1400 px no table needs to either.
    assert layout["pageWidth"] <= width, layout
    for table in layout["tables"]:
        if width >= 1400:
            assert table["width"] <= table["box"], table
            # ...and no row wraps into a tower of short lines (the append table did).
            assert table["tallestRow"] <= 2 * table["lineHeight"] + 4, table
    # The answer first: one headline sentence as the first paragraph, then the list.
    lead = summarize(results).lead
    assert layout["firstParagraph"] == {"cls": "headline", "text": lead}
    assert "read-stream, 1M events on SQLite, streamed vs collected" in layout["firstList"]
    # Parameters folded, as in the Markdown.
    assert [d["summary"] for d in layout["details"]] == ["Parameters"]
    for folded in layout["details"]:
        assert not folded["open"] and not folded["contentShown"], folded
        assert folded["extraHeight"] < 2, folded
    assert_charts_render(report, 7)
    shot = screenshot(page, tmp_path, width, layout["pageHeight"])
    shot_width, shot_height = png_size(shot)
    assert shot_width == width and shot_height >= layout["pageHeight"] - 1
    assert shot.stat().st_size > 100_000  # charts and tables drawn, not a blank page


@pytest.mark.slow
def test_comparison_report_charts_render_in_chromium(tmp_path: Path) -> None:
    base = make_results(seed=1, sizes=(10_000, 100_000))
    head = make_results(seed=2, sizes=(10_000, 100_000))
    _, page, _ = write_comparison_reports(compare_results(base, head), tmp_path, "cmp")
    # One ratio chart per metric measured: time, first event, peak memory, allocations.
    assert_charts_render(render_in_browser(page, tmp_path), 4)
