"""Statistics of the experiments: summaries of runs, paired comparisons of activations, Holm's
correction, the minimum detectable difference, and Welch's test from published summaries.

Within one experiment, run r of every activation starts from the same seed (same batches, noise
and, wherever the shapes agree, initial weights), so activations are compared through the per-seed
differences (:func:`paired_comparison`); Welch's test (:func:`welch_from_summaries`) is only for
groups that are not paired, such as the paper's own table.

A diverged run (non-finite loss) is given as NaN. It is counted, never dropped: every comparison
reports how many runs of each side diverged, the t-based statistics use the pairs where both runs
finished, and the signed-rank test scores a diverged run as the worst outcome (a finished run beats
a diverged one; two diverged runs tie). The README's verdicts never call a claim for Nish supported
when a Nish run diverged (experiments/readme.py).

>>> comparison = paired_comparison([97.0, 97.4, 97.1], [96.5, 97.0, 97.0])
>>> comparison.n_pairs, round(comparison.mean_diff, 2)
(3, 0.33)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize
from scipy import stats as scipy_stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Summary:
    """Mean and spread of one group of finished runs (NaN spreads below two runs)."""

    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1)
    ci_half_width: float  # half width of the 95% Student-t confidence interval of the mean

    @property
    def ci_low(self) -> float:
        return self.mean - self.ci_half_width

    @property
    def ci_high(self) -> float:
        return self.mean + self.ci_half_width


def summarize(values: Iterable[float]) -> Summary:
    """Mean, sample standard deviation and 95% Student-t interval of the finite ``values``."""
    array = np.asarray(list(values), dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"summarize needs a 1-D sequence of numbers, got shape {array.shape}")
    finite = array[np.isfinite(array)]
    n = finite.size
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan)
    mean = float(finite.mean())
    if n < 2:
        return Summary(1, mean, math.nan, math.nan)
    std = float(finite.std(ddof=1))
    t = float(scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, df=n - 1))
    return Summary(n, mean, std, t * std / math.sqrt(n))


@dataclass(frozen=True)
class PairedComparison:
    """An activation against a baseline over paired seeds (differences: activation - baseline,
    in the metric's own units; positive means the activation scored higher)."""

    n_pairs: int  # pairs in which both runs finished (the t-based statistics use these)
    mean_diff: float
    ci_low: float  # 95% Student-t interval of the mean difference
    ci_high: float
    p_paired_t: float  # two-sided paired t-test
    p_wilcoxon: float  # two-sided Wilcoxon signed-rank test over all pairs (diverged = worst)
    d_z: float  # Cohen's d_z: mean difference / standard deviation of the differences
    diverged_activation: int
    diverged_baseline: int


def paired_comparison(
    values: Sequence[float], baseline: Sequence[float], *, higher_is_better: bool = True
) -> PairedComparison:
    """Compare ``values[i]`` with ``baseline[i]`` (run i of both from the same seed; NaN = that
    run diverged).

    The t-test, interval and d_z use the pairs where both finished; NaN where they are undefined
    (under two pairs, or differences without spread: an interval of zero width and d_z of ±inf
    are not reported). The signed-rank test uses every pair, scoring a diverged run as the worst
    outcome (``higher_is_better`` says which end is worst), drops zero differences (Wilcoxon's
    convention; two diverged runs are a zero difference) and is exact for small samples without
    ties; NaN when no pair differs.
    """
    a = np.asarray(values, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"paired values need two 1-D sequences of equal length, got {a.shape} and {b.shape}"
        )
    diverged_a, diverged_b = ~np.isfinite(a), ~np.isfinite(b)
    both = ~diverged_a & ~diverged_b
    diffs = a[both] - b[both]
    n = int(diffs.size)
    mean_diff = float(diffs.mean()) if n else math.nan
    ci_low = ci_high = p_t = d_z = math.nan
    if n >= 2:
        sd = float(diffs.std(ddof=1))
        if sd > 0:
            half = float(scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, df=n - 1)) * sd / math.sqrt(n)
            ci_low, ci_high = mean_diff - half, mean_diff + half
            p_t = float(scipy_stats.ttest_rel(a[both], b[both]).pvalue)
            d_z = mean_diff / sd
    return PairedComparison(
        n_pairs=n,
        mean_diff=mean_diff,
        ci_low=ci_low,
        ci_high=ci_high,
        p_paired_t=p_t,
        p_wilcoxon=_signed_rank_p(a, b, higher_is_better),
        d_z=d_z,
        diverged_activation=int(diverged_a.sum()),
        diverged_baseline=int(diverged_b.sum()),
    )


def _signed_rank_p(a: np.ndarray, b: np.ndarray, higher_is_better: bool) -> float:
    worst = -math.inf if higher_is_better else math.inf
    a = np.where(np.isfinite(a), a, worst)
    b = np.where(np.isfinite(b), b, worst)
    with np.errstate(invalid="ignore"):
        diffs = a - b
    diffs = np.where(np.isnan(diffs), 0.0, diffs)  # both diverged: a tie
    diffs = diffs[diffs != 0]
    if diffs.size == 0:
        return math.nan
    return float(scipy_stats.wilcoxon(diffs).pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (NaNs stay NaN and are not counted)."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, math.nan)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = order.size
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def minimum_detectable_difference(
    sd_of_differences: float, n_pairs: int, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest true mean difference a two-sided paired t-test at level ``alpha`` detects with
    probability ``power``, given ``n_pairs`` pairs whose differences spread by
    ``sd_of_differences`` (noncentral t). NaN below two pairs or without a spread estimate."""
    if n_pairs < 2 or not math.isfinite(sd_of_differences) or sd_of_differences <= 0:
        return math.nan
    df = n_pairs - 1
    critical = float(scipy_stats.t.ppf(1 - alpha / 2, df))

    def shortfall(effect: float) -> float:
        shift = effect * math.sqrt(n_pairs)
        detect = scipy_stats.nct.sf(critical, df, shift) + scipy_stats.nct.cdf(-critical, df, shift)
        # scipy's noncentral t gives NaN far in the tail, where the power is 1 to machine precision
        return (float(detect) if math.isfinite(detect) else 1.0) - power

    effect = optimize.brentq(shortfall, 1e-9, 1e3)
    return effect * sd_of_differences


def detectable_difference(
    comparison: Mapping[str, Any], *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest true difference a comparison row (of :func:`compare_activations`) could
    detect with ``power`` at level ``alpha``, with the spread of its own paired differences
    (read back from its 95% interval). NaN where the row has no interval."""
    n = int(comparison["n_pairs"])
    width = comparison["ci_high"] - comparison["ci_low"]
    if n < 2 or not math.isfinite(width):
        return math.nan
    sd = width / 2 / float(scipy_stats.t.ppf(0.975, n - 1)) * math.sqrt(n)
    return minimum_detectable_difference(sd, n, alpha=alpha, power=power)


def welch_from_summaries(
    mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int
) -> float:
    """Two-sided p-value of Welch's t-test from published means, standard deviations and sizes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = scipy_stats.ttest_ind_from_stats(
            mean_a, std_a, n_a, mean_b, std_b, n_b, equal_var=False
        )
    return float(result.pvalue)


COMPARISON_COLUMNS = (
    "cell",
    "metric",
    "activation",
    "baseline",
    "n_pairs",
    "mean_diff",
    "ci_low",
    "ci_high",
    "p_paired_t",
    "p_wilcoxon",
    "d_z",
    "p_holm",
    "diverged_activation",
    "diverged_baseline",
    "primary",
)


def cell_name(keys: Mapping[str, Any]) -> str:
    """A cell's name in comparisons.csv: ``"depth=20"``, ``"depth=5, noise_std=0.5"``."""
    return ", ".join(f"{key}={value}" for key, value in keys.items())


def compare_activations(
    runs: Sequence[Mapping[str, Any]],
    *,
    cell_keys: Sequence[str],
    metric: str,
    higher_is_better: bool,
    reference: str = "nish",
    is_primary: Callable[[Mapping[str, Any], str], bool] = lambda cell, baseline: False,
    seeds_of: Callable[[Mapping[str, Any], str], Sequence[int]] | None = None,
) -> list[dict[str, Any]]:
    """``reference`` against every other activation in every cell of ``runs`` (rows with the
    ``cell_keys``, ``activation``, ``seed``, ``diverged`` and ``metric``), paired by seed.

    Two families, each with Holm's adjustment of its paired-t p-values: the comparisons of the
    config's primary endpoint (``is_primary(cell, baseline)``), on which verdicts rest, and all
    others (exploratory), so that exploring more never weakens the primary test. A comparison
    that cannot be tested (under two finished pairs, or no spread) enters its family with p = 1:
    it counts against the others instead of shrinking the family.

    Every seed of a cell must have a run of every activation: a missing partner is an error,
    never a silently smaller sample. A design that runs some activations on fewer seeds than
    others declares them: ``seeds_of(cell, activation)`` is the seeds an activation must have in
    a cell (an error otherwise), and each pair is compared on the baseline's seeds.
    """
    cells: dict[tuple, dict[str, dict[int, float]]] = {}
    for row in runs:
        cell = tuple(row[key] for key in cell_keys)
        value = math.nan if _truthy(row["diverged"]) else float(row[metric])
        seeds = cells.setdefault(cell, {}).setdefault(row["activation"], {})
        if int(row["seed"]) in seeds:
            raise ValueError(
                f"cell {cell_name(dict(zip(cell_keys, cell, strict=True)))}: two runs of "
                f"{row['activation']} with seed {row['seed']}; a run may be counted once"
            )
        seeds[int(row["seed"])] = value
    comparisons = []
    for cell, by_activation in cells.items():
        if reference not in by_activation:
            continue
        keys = dict(zip(cell_keys, cell, strict=True))
        if seeds_of is not None:
            for act, values in by_activation.items():
                if sorted(values) != sorted(seeds_of(keys, act)):
                    raise ValueError(
                        f"cell {cell_name(keys)}: {act} has seeds {sorted(values)}, the design "
                        f"says {sorted(seeds_of(keys, act))}"
                    )
        for baseline, values in by_activation.items():
            if baseline == reference:
                continue
            seeds = sorted(by_activation[reference] if seeds_of is None else values)
            if not set(seeds) <= set(by_activation[reference]) or sorted(values) != seeds:
                raise ValueError(
                    f"cell {cell_name(keys)}: {reference} has seeds "
                    f"{sorted(by_activation[reference])} but {baseline} has {sorted(values)}; "
                    "every seed needs a run of both to be paired"
                )
            result = paired_comparison(
                [by_activation[reference][s] for s in seeds],
                [values[s] for s in seeds],
                higher_is_better=higher_is_better,
            )
            comparisons.append(
                {
                    "cell": cell_name(keys),
                    "metric": metric,
                    "activation": reference,
                    "baseline": baseline,
                    **{k: getattr(result, k) for k in PairedComparison.__dataclass_fields__},
                    "primary": bool(is_primary(keys, baseline)),
                }
            )
    return holm_by_family([{**row, "p_holm": math.nan} for row in comparisons])


def holm_by_family(comparisons: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``comparisons`` with ``p_holm`` adjusted over their two families: the primary ones and
    all the others. An experiment that compares several metrics joins their rows and adjusts
    once, so that its exploratory family is every exploratory comparison it makes. An untestable
    comparison (NaN p) counts with p = 1."""
    adjusted = [{column: row[column] for column in COMPARISON_COLUMNS} for row in comparisons]
    for family in (True, False):
        members = [row for row in adjusted if _truthy(row["primary"]) == family]
        tested = [1.0 if math.isnan(r["p_paired_t"]) else r["p_paired_t"] for r in members]
        for row, p in zip(members, holm(tested), strict=True):
            row["p_holm"] = p
    return adjusted


def _truthy(value: Any) -> bool:
    """A ``diverged`` flag as a bool, whether it came from Python or from a CSV ("True")."""
    return value in (True, "True", "true", 1, "1")
