"""The conformance matrix (checks x backends) as Markdown or JSON.

A report is a pure function of the results, so the CLI, the pytest plugin and tests
all write the same file from the same data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.conformance.core import Check, Settings
from harness.conformance.runner import CheckResult, Outcome
from harness.redact import redact

__all__ = ["REPORT_SCHEMA", "render_json", "render_markdown", "write_report"]

REPORT_SCHEMA = "eventbench.conformance/1"

MARKS = {Outcome.PASSED: "pass", Outcome.FAILED: "**FAIL**", Outcome.NOT_APPLICABLE: "n/a"}


class ReportError(ValueError):
    """A report path this module cannot write."""


def _counts(results: Sequence[CheckResult]) -> dict[str, int]:
    return {o.value: sum(1 for r in results if r.outcome is o) for o in Outcome}


def render_json(
    checks: Sequence[Check],
    results: Mapping[str, Sequence[CheckResult]],
    settings: Settings,
) -> str:
    document: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {"thorough": settings.thorough, "timeout": settings.timeout},
        "checks": [{"id": c.id, "description": c.description, "rule": c.rule} for c in checks],
        "backends": {
            backend: {
                "summary": _counts(backend_results),
                "results": {
                    r.check_id: {
                        "outcome": r.outcome.value,
                        "seconds": round(r.seconds, 4),
                        "message": r.message,
                    }
                    for r in backend_results
                },
            }
            for backend, backend_results in results.items()
        },
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(
    checks: Sequence[Check],
    results: Mapping[str, Sequence[CheckResult]],
    settings: Settings,
) -> str:
    backends = list(results)
    by_backend = {b: {r.check_id: r for r in rs} for b, rs in results.items()}
    profile = "thorough" if settings.thorough else "fast (CI)"
    lines = [
        "# eventbench conformance",
        "",
        f"Profile: {profile}. {len(checks)} checks. A check that needs a capability the "
        "backend does not declare is n/a, not passed.",
        "",
        "| backend | passed | failed | n/a |",
        "|---|---:|---:|---:|",
    ]
    for backend in backends:
        counts = _counts(results[backend])
        lines.append(
            f"| {_cell(backend)} | {counts['passed']} | {counts['failed']} | {counts['n/a']} |"
        )
    lines += [
        "",
        "| check | " + " | ".join(_cell(b) for b in backends) + " | what it checks |",
        "|---|" + "---|" * len(backends) + "---|",
    ]
    for check in checks:
        marks = []
        for backend in backends:
            result = by_backend[backend].get(check.id)
            marks.append(MARKS[result.outcome] if result else "")
        lines.append(f"| `{check.id}` | " + " | ".join(marks) + f" | {_cell(check.description)} |")
    failures = [
        (backend, r)
        for backend in backends
        for r in results[backend]
        if r.outcome is Outcome.FAILED
    ]
    if failures:
        lines += ["", "## Failures", ""]
        for backend, result in failures:
            lines += [f"### `{result.check_id}` on {backend}", "", "```", result.message, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(
    path: Path,
    checks: Sequence[Check],
    results: Mapping[str, Sequence[CheckResult]],
    settings: Settings,
) -> None:
    """Write the matrix to ``path``: Markdown for ``.md``, JSON for ``.json``.

    Backend names and messages are masked first (a message may quote a store URL).
    """
    results = {
        redact(backend): [replace(r, message=redact(r.message)) for r in backend_results]
        for backend, backend_results in results.items()
    }
    if path.suffix == ".json":
        text = render_json(checks, results, settings)
    elif path.suffix in (".md", ".markdown"):
        text = render_markdown(checks, results, settings)
    else:
        raise ReportError(
            f"cannot tell the report format of {str(path)!r}: name it .md (Markdown) or .json"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact(text), encoding="utf-8")
