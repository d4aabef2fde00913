"""Descriptive statistics: quantiles, per-cell summaries and log-log growth fits."""

from __future__ import annotations

import math

import pytest

from harness.analysis.stats import fit_growth, fit_loglog, median, quantile, summarize
from harness.results import Cell, MemorySamples, TimeSamples


def test_quantiles_interpolate_and_median_ignores_an_outlier() -> None:
    assert median([1.0, 2.0, 3.0, 100.0]) == 2.5
    assert quantile([0.0, 10.0], 0.25) == 2.5
    assert math.isnan(median([]))


@pytest.mark.parametrize("slope", [0.0, 0.5, 1.0, 2.0])
def test_a_power_law_fit_recovers_its_exponent(slope: float) -> None:
    sizes = [10_000, 100_000, 1_000_000]
    values = [3.0 * n**slope for n in sizes]
    fitted, intercept, r2 = fit_loglog(sizes, values)
    assert fitted == pytest.approx(slope, abs=1e-9)
    assert math.exp(intercept) == pytest.approx(3.0)
    assert r2 == pytest.approx(1.0)


def test_a_fit_needs_two_sizes() -> None:
    with pytest.raises(ValueError, match="two distinct sizes"):
        fit_loglog([10, 10], [1.0, 2.0])


def make_cell(mode: str, size: int, peak: int, total: float, error: str | None = None) -> Cell:
    return Cell(
        scenario="read-stream",
        backend="memory",
        mode=mode,
        size=size,
        params={},
        time=TimeSamples(
            total_s=[total, total * 1.1, total * 0.9],
            first_event_s=[total / 2] * 3,
            events=size,
            warmups=1,
            latency_s=[0.001, 0.002, 0.003],
            counters={"retries": [1.0, 3.0, 2.0]},
        ),
        memory=MemorySamples(peak_bytes=[peak, peak + 2], allocations=[5, 7]),
        error=error,
    )


def test_summary_has_medians_rates_and_counters() -> None:
    summary = summarize(make_cell("streamed", 1000, 500, 0.5))
    assert summary["total_s"] == pytest.approx(0.5)
    assert summary["first_event_s"] == pytest.approx(0.25)
    assert summary["events_per_s"] == pytest.approx(2000)
    assert summary["peak_bytes"] == 501
    assert summary["allocations"] == 6
    assert summary["latency_p50_s"] == pytest.approx(0.002)
    assert summary["retries"] == 2.0


def test_growth_fits_tell_collected_from_streamed() -> None:
    cells = [
        *(make_cell("collected", n, 1000 * n, n / 1e5) for n in (1_000, 10_000, 100_000)),
        *(make_cell("streamed", n, 400_000, n / 1e5) for n in (1_000, 10_000, 100_000)),
        make_cell("broken", 1_000, 1, 1.0, error="boom"),
    ]
    fits = {(f.mode, f.metric): f for f in fit_growth(cells)}
    assert fits[("collected", "peak_bytes")].slope == pytest.approx(1.0, abs=0.01)
    assert fits[("streamed", "peak_bytes")].slope == pytest.approx(0.0, abs=0.01)
    assert fits[("streamed", "total_s")].slope == pytest.approx(1.0, abs=0.01)
    assert fits[("collected", "total_s")].sizes == [1_000, 10_000, 100_000]
    assert not any(mode == "broken" for mode, _ in fits)


def test_a_flat_fit_reads_r_squared_one_not_float_noise() -> None:
    # Identical medians but for rounding: the spread is float noise, not data.
    slope, _, r2 = fit_loglog([2_000, 6_000, 20_000], [797_696.0, 797_696.0000001, 797_696.0])
    assert abs(slope) < 1e-9 and r2 == 1.0


def test_growth_is_fitted_only_over_three_sizes_or_more() -> None:
    two = [make_cell("streamed", n, 400_000 * n, n / 1e5) for n in (1_000, 10_000)]
    assert fit_growth(two) == []
    three = [*two, make_cell("streamed", 100_000, 400_000 * 100_000, 1.0)]
    assert {f.sizes == [1_000, 10_000, 100_000] for f in fit_growth(three)} == {True}
