"""experiments.core.stats: paired comparisons, Holm, power and Welch against scipy and hand
values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from experiments.core import stats

NISH = [97.1, 97.5, 96.9, 97.8, 97.3, 97.0]
MISH = [96.8, 97.4, 97.0, 97.1, 96.9, 96.6]


def test_summarize_matches_hand_computation():
    # [1..5]: mean 3, s^2 = 2.5, t(0.975, df=4) = 2.776445 (t table); NaN runs are not counted.
    summary = stats.summarize([1, 2, math.nan, 3, 4, 5])
    assert (summary.n, summary.mean, summary.std) == (5, 3.0, pytest.approx(math.sqrt(2.5)))
    assert summary.ci_half_width == pytest.approx(2.776445 * math.sqrt(0.5), rel=1e-6)
    single, none = stats.summarize([0.97]), stats.summarize([math.nan])
    assert single.n == 1 and math.isnan(single.std) and none.n == 0 and math.isnan(none.mean)


def test_paired_comparison_matches_scipy():
    result = stats.paired_comparison(NISH, MISH)
    diffs = np.subtract(NISH, MISH)
    assert result.n_pairs == 6
    assert result.mean_diff == pytest.approx(diffs.mean())
    assert result.p_paired_t == pytest.approx(scipy_stats.ttest_rel(NISH, MISH).pvalue)
    assert result.p_wilcoxon == pytest.approx(scipy_stats.wilcoxon(diffs).pvalue)
    assert result.d_z == pytest.approx(diffs.mean() / diffs.std(ddof=1))
    interval = scipy_stats.t.interval(0.95, 5, loc=diffs.mean(), scale=scipy_stats.sem(diffs))
    assert (result.ci_low, result.ci_high) == pytest.approx(interval)
    assert result.diverged_activation == result.diverged_baseline == 0


def test_paired_is_not_welch():
    """A consistent small lead is clear when paired and invisible to an unpaired test."""
    base = [90.0, 91.5, 89.0, 92.0, 90.5]
    lead = [b + 0.1 + 0.01 * i for i, b in enumerate(base)]
    assert stats.paired_comparison(lead, base).p_paired_t < 1e-4
    welch = stats.welch_from_summaries(
        np.mean(lead), np.std(lead, ddof=1), 5, np.mean(base), np.std(base, ddof=1), 5
    )
    assert welch > 0.8


def test_ties_zero_differences_and_two_pairs():
    tied = stats.paired_comparison([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 2.0, 5.0])  # a zero, ties
    assert tied.p_wilcoxon == pytest.approx(scipy_stats.wilcoxon([0.0, 1.0, 1.0, -1.0]).pvalue)
    two = stats.paired_comparison([2.0, 3.5], [1.0, 3.0])
    assert two.n_pairs == 2 and two.p_wilcoxon == pytest.approx(0.5)  # exact: 2 of 4 sign sets
    assert two.p_paired_t == pytest.approx(scipy_stats.ttest_rel([2.0, 3.5], [1.0, 3.0]).pvalue)
    same = stats.paired_comparison([1.0, 2.0], [1.0, 2.0])
    assert same.mean_diff == 0 and math.isnan(same.p_paired_t) and math.isnan(same.p_wilcoxon)
    constant = stats.paired_comparison([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])  # no spread
    assert math.isnan(constant.d_z) and math.isnan(constant.ci_low)


def test_diverged_runs_are_counted_and_ranked_worst():
    nish = [97.0, 97.2, math.nan, 97.1]
    mish = [96.0, math.nan, math.nan, 96.5]
    result = stats.paired_comparison(nish, mish)
    assert (result.diverged_activation, result.diverged_baseline) == (1, 2)
    assert result.n_pairs == 2  # the t-test uses the pairs where both finished
    # Signed ranks: +1.0, +inf (Nish finished, Mish diverged), tie dropped, +0.6.
    assert result.p_wilcoxon == pytest.approx(scipy_stats.wilcoxon([1.0, math.inf, 0.6]).pvalue)
    # For a loss (lower is better) a diverged run is +inf: Nish finishing beats it again.
    loss = stats.paired_comparison([0.1, 0.2], [math.nan, 0.3], higher_is_better=False)
    assert loss.p_wilcoxon == pytest.approx(scipy_stats.wilcoxon([-math.inf, -0.1]).pvalue)
    everything = stats.paired_comparison([math.nan] * 3, [math.nan] * 3)
    assert everything.n_pairs == 0 and math.isnan(everything.mean_diff)
    assert math.isnan(everything.p_wilcoxon) and everything.diverged_activation == 3


def test_holm_against_hand_values():
    # Sorted 0.01, 0.02, 0.04 (NaN not counted): 3 x 0.01, max(0.03, 2 x 0.02), max(.., 1 x 0.04).
    adjusted = stats.holm([0.04, math.nan, 0.01, 0.02])
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1])
    assert adjusted[2:] == pytest.approx([0.03, 0.04])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_minimum_detectable_difference_has_the_asked_power():
    mdd = stats.minimum_detectable_difference(0.3, 20)
    shift = mdd / 0.3 * math.sqrt(20)
    critical = scipy_stats.t.ppf(0.975, 19)
    power = scipy_stats.nct.sf(critical, 19, shift) + scipy_stats.nct.cdf(-critical, 19, shift)
    assert power == pytest.approx(0.8, abs=1e-6)
    assert 0.18 < mdd < 0.21  # about 2.8 standard errors, as the normal approximation says
    assert math.isnan(stats.minimum_detectable_difference(0.3, 1))
    # Few pairs reach far into the noncentral t's tail (scipy gives NaN there): still a number,
    # and fewer pairs always need a larger difference.
    few = [stats.minimum_detectable_difference(1.0, n) for n in (2, 3, 4, 5, 6)]
    assert all(math.isfinite(d) for d in few) and few == sorted(few, reverse=True)


def test_compare_activations_pairs_by_seed_and_refuses_unpaired():
    runs = [
        {"depth": d, "activation": a, "seed": s, "diverged": False, "acc": v}
        for d in (10, 20)
        for a, values in (("nish", NISH), ("mish", MISH), ("relu", MISH[::-1]))
        for s, v in enumerate(values)
    ]
    rows = stats.compare_activations(
        runs[::-1],
        cell_keys=("depth",),
        metric="acc",
        higher_is_better=True,
        is_primary=lambda cell, baseline: cell["depth"] == 20,
    )
    assert [(r["cell"], r["baseline"]) for r in rows] == [
        ("depth=20", "relu"),
        ("depth=20", "mish"),
        ("depth=10", "relu"),
        ("depth=10", "mish"),
    ]
    assert tuple(rows[0]) == stats.COMPARISON_COLUMNS
    mish_20 = rows[1]
    assert mish_20["p_paired_t"] == pytest.approx(scipy_stats.ttest_rel(NISH, MISH).pvalue)
    primary = [r for r in rows if r["primary"]]
    assert [r["p_holm"] for r in primary] == pytest.approx(
        stats.holm([r["p_paired_t"] for r in primary])
    )
    with pytest.raises(ValueError, match="every seed needs a run of both"):
        stats.compare_activations(
            runs[:-1], cell_keys=("depth",), metric="acc", higher_is_better=True
        )


def test_an_experiment_comparing_several_metrics_has_one_exploratory_family():
    """Two metrics' comparisons, joined and adjusted once: every exploratory row is adjusted
    over all exploratory rows of both metrics, the primary rows over the primary ones only."""
    runs = [
        {"depth": d, "activation": a, "seed": s, "diverged": False, "acc": v, "loss": -v}
        for d in (10, 20)
        for a, values in (("nish", NISH), ("mish", MISH), ("relu", MISH[::-1]))
        for s, v in enumerate(values)
    ]
    joined = stats.holm_by_family(
        [
            row
            for metric in ("acc", "loss")
            for row in stats.compare_activations(
                runs,
                cell_keys=("depth",),
                metric=metric,
                higher_is_better=metric == "acc",
                is_primary=lambda cell, _, m=metric: m == "acc" and cell["depth"] == 20,
            )
        ]
    )
    for family in (True, False):
        members = [r for r in joined if r["primary"] == family]
        assert len(members) == (2 if family else 6)
        assert [r["p_holm"] for r in members] == pytest.approx(
            stats.holm([r["p_paired_t"] for r in members])
        )


def test_a_comparison_knows_the_smallest_difference_it_could_detect():
    """Read back from a comparison's own interval, the spread gives the same detectable
    difference as the spread of the differences themselves."""
    rng = np.random.default_rng(0)
    values, baseline = rng.normal(1.0, 1.0, 12), rng.normal(0.0, 1.0, 12)
    row = stats.paired_comparison(values, baseline)
    spread = float(np.std(values - baseline, ddof=1))
    found = stats.detectable_difference(vars(row) | {"n_pairs": row.n_pairs}, alpha=0.0125)
    assert found == pytest.approx(
        stats.minimum_detectable_difference(spread, 12, alpha=0.0125), rel=1e-6
    )
    assert math.isnan(stats.detectable_difference({"n_pairs": 1, "ci_low": 0, "ci_high": 1}))
