"""Numbers and names as people read them, Markdown tables, and writing report files.

Every report (run or comparison, Markdown or HTML) formats through here, so a
quantity reads the same everywhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from harness.redact import redact

__all__ = [
    "backend_name",
    "fmt_bytes",
    "fmt_count",
    "fmt_figure",
    "fmt_rate",
    "fmt_ratio",
    "fmt_seconds",
    "fmt_size",
    "json_safe",
    "md_escape",
    "md_table",
    "write_atomic",
]

_BACKEND_NAMES: Final = {"postgres": "PostgreSQL", "sqlite": "SQLite", "memory": "memory"}


def backend_name(name: str) -> str:
    """The reference backends by their proper names; anything else as given."""
    return _BACKEND_NAMES.get(name, name)


def _sig(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, without scientific notation."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def fmt_seconds(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if value >= 1:
        return f"{_sig(value)} s"
    if value >= 1e-3:
        return f"{_sig(value * 1e3)} ms"
    return f"{_sig(value * 1e6)} µs"


def fmt_bytes(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(value) >= scale:
            return f"{_sig(value / scale)} {unit}"
    return f"{value:.0f} B"


def fmt_count(value: float | None) -> str:
    """1234567 -> "1.23M" (allocations, events)."""
    if value is None or math.isnan(value):
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{_sig(value / scale)}{unit}"
    return f"{value:.0f}"


def fmt_figure(name: str, value: float | None) -> str:
    """A scenario's own figure, in the unit its name says: ``*_s`` seconds, ``*bytes*``
    bytes, anything else a count (fractions kept to three significant digits)."""
    if value is None or math.isnan(value):
        return "-"
    if name.endswith("_s"):
        return fmt_seconds(value)
    if "bytes" in name:
        return fmt_bytes(value)
    if abs(value) < 1000 and value != round(value):
        return _sig(value)
    return fmt_count(value)


def fmt_rate(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{fmt_count(value)} events/s"


def fmt_size(n: int) -> str:
    """Event counts as written on the command line: 10000 -> "10K", 1000000 -> "1M"."""
    for unit, scale in (("M", 1_000_000), ("K", 1_000)):
        if n >= scale:
            return f"{n / scale:g}{unit}"
    return str(n)


def fmt_slope(value: float | None) -> str:
    """A fitted log-log slope to two decimals; a flat fit reads 0.00, never -0.00."""
    if value is None or math.isnan(value):
        return "-"
    return f"{round(value, 2) + 0.0:.2f}"


def fmt_ratio(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if value >= 10:
        return f"{value:.0f}x"
    if value >= 0.1:
        return f"{value:.2f}x"
    return f"{_sig(value, 2)}x"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY_START = re.compile(r"&(?=#?[A-Za-z0-9]+;)")


def md_escape(text: object) -> str:
    """Make text from a results file inert in Markdown (and in the HTML it renders to),
    while it still reads as written where it is read raw.

    Markdown passes raw HTML and entities through, so only a ``<`` that would open a
    tag and an ``&`` that would start an entity become entities (``->`` and ``a < b``
    stay as they are); table and emphasis characters are backslash-escaped, as is a
    leading ``>`` (a quote); newlines would end a table row.
    """
    s = _ENTITY_START.sub("&amp;", str(text))
    s = _TAG_START.sub("&lt;", s)
    s = _MD_SPECIAL.sub(r"\\\1", s)
    s = " ".join(s.splitlines())
    return "\\" + s if s.startswith(">") else s


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table (every cell escaped), as lines, followed by a blank line."""
    out = ["| " + " | ".join(md_escape(x) for x in headers) + " |"]
    out.append("|" + "|".join("---" for _ in headers) + "|")
    out += ["| " + " | ".join(md_escape(x) for x in row) + " |" for row in rows]
    return [*out, ""]


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None: JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_atomic(path: Path, text: str) -> Path:
    """Write a report file so that a reader never sees half of it (nor a password:
    reports are made from redacted results, and masked once more here)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(redact(text), encoding="utf-8")
    tmp.replace(path)
    return path
