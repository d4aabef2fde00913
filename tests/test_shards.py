"""Sharded runs (`eventbench run --shard i/n`) and `eventbench merge`.

"Identical" reports, as tested here: after replacing every measured number (samples,
timestamps, durations, seeding times) by the same deterministic function of the cell
key in both documents, the merged run and the unsharded run render byte-identical
Markdown, HTML and JSON summaries, and byte-identical comparisons against a third run.
That is: the same cells in the same order, the same parameters and environment, the
same fits, the same tables. Only the measured values themselves may differ.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from results_factory import environment, read_cell

from harness.analysis.compare import compare_results
from harness.analysis.stats import fit_growth, summarize
from harness.cli import main
from harness.cli.run import plan_from_options
from harness.report.comparison import render_comparison_html, render_comparison_markdown
from harness.report.run import render_html, render_markdown, summary_document
from harness.results import RunResults, load_results
from harness.results_merge import MergeError, merge_results
from harness.runner import FULL, Plan, PlanError, make_plan
from harness.runner.shards import Shard, cell_cost_s, parse_shard, shard_plan, shard_weights

PLAN_ARGS = {"scenarios": ["read-stream", "append"], "backends": ["sqlite", "memory"]}


def test_parse_shard() -> None:
    assert parse_shard("2/5") == Shard(2, 5)
    for bad in ("0/3", "4/3", "1/0", "x", "1-2"):
        with pytest.raises(PlanError, match=r"I/N|between 1 and N"):
            parse_shard(bad)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 40])
def test_shards_partition_the_plan_deterministically(count: int) -> None:
    plan = make_plan(sizes=[1000, 10_000], **PLAN_ARGS)  # type: ignore[arg-type]
    parts = [shard_plan(plan, Shard(i, count)) for i in range(1, count + 1)]
    keys = [c.key for part in parts for c in part.cells]
    assert sorted(keys) == sorted(c.key for c in plan.cells)
    assert len(keys) == len(set(keys))
    again = [shard_plan(plan, Shard(i, count)) for i in range(1, count + 1)]
    assert [p.cells for p in parts] == [p.cells for p in again]
    for part in parts:
        record = part.parameters["shard"]
        assert record["planned"] == [list(c.key) for c in plan.cells]
        assert record["cells"] == [list(c.key) for c in part.cells]
        # Cells reading the same seeded data share a shard (seeded once per shard),
        # unless their group alone outweighs a shard's ideal share.
        ideal = sum(shard_weights(plan, 1)) / count
        seeds = {(c.backend, c.layout.key(c.size)) for c in part.cells if c.layout is not None}
        for other in parts:
            if other is not part:
                for backend, layout in seeds & {
                    (c.backend, c.layout.key(c.size)) for c in other.cells if c.layout
                }:
                    group = [
                        c
                        for c in plan.cells
                        if c.layout and (c.backend, c.layout.key(c.size)) == (backend, layout)
                    ]
                    assert shard_weights(replace(plan, cells=tuple(group)), 1)[0] > ideal


def test_shards_are_balanced_by_cost() -> None:
    plan = make_plan(sizes=[1000, 10_000, 100_000], **PLAN_ARGS)  # type: ignore[arg-type]
    weights = shard_weights(plan, 2)
    assert max(weights) / min(weights) < 1.1
    # Not balanced by cell count: a 100K group weighs as much as many small ones.
    assert sum(weights) == pytest.approx(sum(shard_weights(plan, 1)))


def _full_plan() -> Plan:
    return plan_from_options(
        scenarios=None,
        backends="sqlite,memory,postgres",
        sizes=None,
        modes=None,
        repeats=None,
        memory_repeats=None,
        warmups=1,
        rounds=None,
        params=(),
        profile=FULL,
    )


@pytest.mark.parametrize("count", range(2, 17))
def test_full_plan_shards_stay_within_10_percent_of_the_ideal_share(count: int) -> None:
    """With many shards the 1M-event reads of one backend (one seed group) outweigh a
    shard's share; they are split across shards, each seeding that data once, so the
    longest shard stays near total / count (scripts/shard_balance.py prints the table)."""
    plan = _full_plan()
    weights = shard_weights(plan, count)
    ideal = sum(shard_weights(plan, 1)) / count
    # Cells are indivisible: when more than k * count cells cost at least c each, some
    # shard runs k + 1 of them, so no split can beat (k + 1) * c (pigeonhole).
    costs = sorted((cell_cost_s(cell, plan) for cell in plan.cells), reverse=True)
    bound = max(
        [ideal]
        + [(k + 1) * costs[k * count] for k in range(1, len(costs)) if k * count < len(costs)]
    )
    assert max(weights) / bound < 1.10, [round(w / bound, 2) for w in weights]
    # Splitting costs extra seedings only, never a cell twice or a cell lost.
    keys = [c.key for i in range(1, count + 1) for c in shard_plan(plan, Shard(i, count)).cells]
    assert sorted(keys) == sorted(c.key for c in plan.cells)
    assert sum(weights) >= sum(shard_weights(plan, 1))


# ------------------------------------------------------------------ merge (synthetic)


def _shards(count: int = 2, **env_changes: object) -> list[tuple[str, RunResults]]:
    """Synthetic shard results of a real plan, as `run --shard` would record them."""
    plan = make_plan(sizes=[1000, 2000], scenarios=["read-stream"], backends=["sqlite"])
    rng = random.Random(1)
    out = []
    for i in range(1, count + 1):
        part = shard_plan(plan, Shard(i, count))
        cells = [read_cell(c.scenario, c.backend, c.mode, c.size, rng) for c in part.cells]
        cells = [replace(c, summary=summarize(c)) for c in cells]
        out.append(
            (
                f"shard{i}.json",
                RunResults(
                    environment=environment(**env_changes) if i == count else environment(),
                    parameters={**part.parameters, "seeding": [], "skipped_backends": {}},
                    cells=cells,
                    fits=fit_growth(cells),
                    started_at=f"2026-01-01T00:0{i}:00+00:00",
                    finished_at=f"2026-01-01T00:1{i}:00+00:00",
                    duration_s=10.0 * i,
                ),
            )
        )
    return out


def test_merge_joins_cells_in_plan_order_with_fits() -> None:
    shards = _shards(2)
    merged = merge_results(list(reversed(shards)))
    planned = shards[0][1].parameters["shard"]["planned"]
    assert [list(c.key) for c in merged.results.cells] == planned
    assert "shard" not in merged.results.parameters
    assert merged.results.fits == fit_growth(merged.results.cells)
    assert merged.results.duration_s == 20.0
    assert merged.results.started_at.endswith("00:01:00+00:00")
    assert merged.warnings == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"git_commit": "f" * 40}, "shard2.json: commit f+ differs from shard1.json"),
        ({"packages": {"eventbench": "9"}}, "shard2.json: packages differ"),
    ],
)
def test_merge_refuses_shards_of_other_software(change: dict[str, object], message: str) -> None:
    with pytest.raises(MergeError, match=message):
        merge_results(_shards(2, **change))


def test_merge_warns_for_other_machines() -> None:
    merged = merge_results(_shards(2, hostname="bench-2"))
    assert len(merged.warnings) == 1
    assert "shard2.json ran on another machine" in merged.warnings[0]
    assert "hostname" in merged.warnings[0]


def test_merge_refuses_different_parameters_naming_file_and_key() -> None:
    shards = _shards(2)
    name, second = shards[1]
    shards[1] = (name, replace(second, parameters={**second.parameters, "repeats": 9}))
    with pytest.raises(MergeError, match=r"shard2.json: parameters differ.*repeats is 9 there"):
        merge_results(shards)


def test_merge_refuses_other_plan_missing_and_duplicated_cells() -> None:
    shards = _shards(2)
    with pytest.raises(MergeError, match=r"shard.s. 2/2 missing"):
        merge_results(shards[:1])
    with pytest.raises(MergeError, match=r"shard 1/2 is also given as shard1\.json"):
        merge_results([shards[0], shards[0], shards[1]])
    three = _shards(3)
    with pytest.raises(MergeError, match=r"belongs to a different plan"):
        merge_results([shards[0], three[1]])
    name, second = shards[1]
    stolen = replace(second, cells=[*second.cells, shards[0][1].cells[0]])
    with pytest.raises(MergeError, match=r"holds cell .* that its shard was not given"):
        merge_results([shards[0], (name, stolen)])
    plain = replace(second, parameters={k: v for k, v in second.parameters.items() if k != "shard"})
    with pytest.raises(MergeError, match=r"shard2.json: not a shard's results"):
        merge_results([shards[0], (name, plain)])


def test_merge_fails_when_a_backend_was_unavailable_in_a_shard() -> None:
    shards = _shards(2)
    name, second = shards[1]
    lost = replace(
        second,
        cells=second.cells[1:],
        parameters={**second.parameters, "skipped_backends": {"sqlite": "no driver"}},
    )
    with pytest.raises(MergeError, match=r"shard2.json: planned cell .* was not measured"):
        merge_results([shards[0], (name, lost)])


# ------------------------------------------------------------------ end to end


_STRUCTURE = {"events", "warmups", "rounds", "time_rounds", "memory_rounds", "method"}
"""Fields of the sample objects that say what was measured, not what came out."""


def _stand_in(value: Any, base: int) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return base * 1000
    if isinstance(value, float):
        return base * 1e-4
    if isinstance(value, list):
        return [_stand_in(v, base) for v in value]
    if isinstance(value, dict):
        return {
            k: v if k in _STRUCTURE or k == "captures" else _stand_in(v, base)
            for k, v in value.items()
        }
    return value


def _normalized(results: RunResults) -> RunResults:
    """Every measured number replaced by a function of the cell key (see the module doc)."""
    doc = results.to_json()
    for cell in doc["cells"]:
        base = 1 + sum(map(ord, f"{cell['scenario']}/{cell['backend']}/{cell['mode']}")) % 97
        base *= cell["size"]
        for part in ("time", "memory", "cold", "instructions"):
            if cell.get(part) is not None:
                cell[part] = _stand_in(cell[part], base)
        cell["summary"] = {}
    plain = RunResults.from_json(doc)
    cells = [replace(c, summary=summarize(c)) for c in plain.cells]
    seeding = sorted(
        ({**t, "seconds": 0.0} for t in results.parameters.get("seeding", [])),
        key=lambda t: json.dumps(t, sort_keys=True),
    )
    return replace(
        plain,
        cells=cells,
        fits=fit_growth(cells),
        parameters={**results.parameters, "seeding": seeding},
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:01:00+00:00",
        duration_s=60.0,
    )


def _rendered(results: RunResults) -> tuple[str, str, str]:
    return (
        render_markdown(results),
        render_html(results),
        json.dumps(summary_document(results), sort_keys=True),
    )


@pytest.mark.slow
def test_merged_shards_report_like_an_unsharded_run(tmp_path: Path) -> None:
    args = [
        *("--scenarios", "read-stream", "--modes", "collected,streamed"),
        *("--backends", "sqlite,memory", "--sizes", "100,200"),
        *("--repeats", "1", "--memory-repeats", "1", "--warmups", "0"),
    ]
    runner = CliRunner()
    for name, extra in (("full", []), ("s1", ["--shard", "1/2"]), ("s2", ["--shard", "2/2"])):
        got = runner.invoke(main, ["run", *args, *extra, "-o", str(tmp_path / f"{name}.json")])
        assert got.exit_code == 0, got.output
    got = runner.invoke(
        main,
        [
            "merge",
            str(tmp_path / "s2.json"),
            str(tmp_path / "s1.json"),
            "-o",
            str(tmp_path / "merged.json"),
        ],
    )
    assert got.exit_code == 0, got.output
    full = load_results(tmp_path / "full.json")
    merged = load_results(tmp_path / "merged.json")
    shard1 = load_results(tmp_path / "s1.json")
    assert 0 < len(shard1.cells) < len(full.cells)
    assert [c.key for c in merged.cells] == [c.key for c in full.cells]
    assert _rendered(_normalized(merged)) == _rendered(_normalized(full))
    # compare: against the same third run, the two give the same comparison.
    other = _normalized(full)
    via_full = compare_results(other, _normalized(full))
    via_merged = compare_results(other, _normalized(merged))
    assert render_comparison_markdown(via_full) == render_comparison_markdown(via_merged)
    assert render_comparison_html(via_full) == render_comparison_html(via_merged)
    # The documents themselves differ only in measured values and timestamps.
    assert _normalized(merged).to_json() == _normalized(full).to_json()


def test_merge_command_reports_bad_input_without_traceback(tmp_path: Path) -> None:
    runner = CliRunner()
    got = runner.invoke(
        main, ["merge", str(tmp_path / "nope.json"), "-o", str(tmp_path / "m.json")]
    )
    assert got.exit_code == 1
    assert "nope.json: no such results file" in got.output
    assert "Traceback" not in got.output


def test_an_empty_shard_succeeds_and_records_its_place(tmp_path: Path) -> None:
    # One group of cells, two shards: the second has nothing to do.
    args = ["run", "--scenarios", "read-stream", "--backends", "memory", "--sizes", "100"]
    out = tmp_path / "s2.json"
    got = CliRunner().invoke(main, [*args, "--modes", "streamed", "--shard", "2/2", "-o", str(out)])
    assert got.exit_code == 0, got.output
    assert "shard 2/2 has no cells" in got.output
    results = load_results(out)
    assert results.cells == []
    assert results.parameters["shard"]["index"] == 2
    assert results.parameters["shard"]["planned"] == [["read-stream", "memory", "streamed", 100]]
