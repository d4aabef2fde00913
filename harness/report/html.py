"""Building blocks of the self-contained HTML reports, escaping by default.

Any plain `str` handed to these helpers is escaped; only `Safe` fragments (built
here from escaped parts) pass through. Text from a results file can therefore reach a
page only escaped. Pages load nothing from anywhere: styles are inline, charts are
``data:`` PNGs, and a Content-Security-Policy forbids everything else (scripts too).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from typing import Final

from harness.report.charts import Chart

__all__ = ["Safe", "escape", "figure", "join", "page", "table", "tag"]


class Safe(str):
    """An HTML fragment that is already escaped."""

    __slots__ = ()


def escape(value: object) -> Safe:
    if isinstance(value, Safe):
        return value
    return Safe(html.escape(str(value), quote=True))


def join(parts: Iterable[object], sep: str = "") -> Safe:
    return Safe(sep.join(escape(p) for p in parts))


def tag(name: str, *children: object, cls: str | None = None, **attrs: str) -> Safe:
    """``<name attrs>children</name>``; attribute values and plain children are escaped."""
    attr_text = "".join(f' {k.rstrip("_")}="{escape(v)}"' for k, v in attrs.items())
    if cls:
        attr_text += f' class="{escape(cls)}"'
    return Safe(f"<{name}{attr_text}>{join(children)}</{name}>")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric_from: int = 0) -> Safe:
    """A table; columns from ``numeric_from`` on (when > 0) are right-aligned numbers.

    Cells never wrap ("read-" over "stream" reads as two words); on a narrow screen the
    table scrolls sideways in its own box rather than widening the page.
    """
    head = join(
        tag("th", h, cls="num" if numeric_from and i >= numeric_from else None)
        for i, h in enumerate(headers)
    )
    body = join(
        tag(
            "tr",
            *(
                tag("td", cell, cls="num" if numeric_from and i >= numeric_from else None)
                for i, cell in enumerate(row)
            ),
        )
        for row in rows
    )
    return tag(
        "div", tag("table", tag("thead", tag("tr", head)), tag("tbody", body)), cls="table-wrap"
    )


def figure(chart: Chart) -> Safe:
    data = base64.b64encode(chart.png).decode("ascii")
    img = Safe(
        f'<img src="data:image/png;base64,{data}" alt="{escape(chart.alt)}" '
        f'width="{chart.width}" height="{chart.height}">'
    )
    return tag("figure", img, tag("figcaption", chart.title))


_CSP: Final = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_STYLE: Final = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1a1a1a;
       max-width: 1180px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.7em; margin-bottom: .2em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
.headline { font-size: 1.25em; font-weight: 600; margin: .4em 0; }
.lead { font-size: 1.05em; background: #f4f8fb; border-left: 4px solid #1f77b4;
        padding: .6em 1em .6em 2.2em; }
.lead li { margin: .3em 0; }
.bad { color: #b00020; font-weight: 600; } .good { color: #1b7f2a; font-weight: 600; }
.meh { color: #a15c00; } .muted { color: #666; }
.warn { background: #fff6e0; border-left: 4px solid #e0a000; padding: .5em 1em; }
.table-wrap { overflow-x: auto; margin: .8em 0; }
table { border-collapse: collapse; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top;
         white-space: nowrap; }
th { background: #f3f3f3; } td.num, th.num { text-align: right;
     font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: .9em; }
details { margin: .8em 0; } summary { cursor: pointer; font-weight: 600; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .85em; }
"""


def page(title: str, body: Safe) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
