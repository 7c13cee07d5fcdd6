"""Why deep MLPs fail in Fig. 2a: dropout, BatchNorm's running statistics, or the activation.

    python -m experiments depth_mechanism --config=full

The depth sweep's programs at depth 25 (the origin's optimiser, BatchNorm, 10 epochs, all of
MNIST) in three arms (``config.arms``): ``origin`` (dropout 0.25 after every block, the origin's
step; the committed sweep's programs), ``no_dropout`` (dropout 0) and ``step3x`` (dropout 0.25 at
three times the step). Every trained program is measured (:func:`measure_mechanism`) while its
state is at hand, and the measurements are kept in the records store beside it:

- ``test_top1_percent``: test accuracy as trained (BatchNorm's running statistics);
- ``recalibrated_test_top1_percent``: after recomputing the running statistics exactly from the
  training set with dropout off (:func:`nish_jax.analysis.recalibrate_batch_stats`);
- ``train_eval_top1_percent``: training-set accuracy in eval mode (the logged training accuracy
  is measured with dropout on);
- ``var_shift_*``: per hidden layer, the variance of the activation's input in eval mode (running
  statistics, dropout off) over its variance in train mode (batch statistics, dropout on, as
  training sees it), on a fixed test batch: the variance shift of Li et al. (CVPR 2019); 1 when
  the two modes agree; ``var_shift_extreme`` is the layer's ratio furthest from 1.
  ``recalibrated_var_shift_extreme``: the same after recalibration.
- ``signal_shift_*``: the same ratio of each unit's own variance over the batch, averaged over
  the units (``pre_unit_var`` of :func:`nish_jax.analysis.signal_propagation`): the
  input-dependent part, which :func:`nish_jax.analysis.dropout_variance_shift` predicts
  (exploratory, added before the first run).
- ``grad_ratio_*``: log10 of the first over the last hidden layer's mean per-example kernel
  gradient norm (:func:`nish_jax.analysis.model_grad_norms`, through
  :func:`experiments.mnist.gradient_flow.layer_statistics`), in train mode (batch statistics,
  dropout on: what training sees) and eval mode, at initialisation and after training.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments.core import grid, records, report, stats
from experiments.mnist.gradient_flow import layer_statistics, probe_batch, run_variables
from nish_jax import get_activation
from nish_jax.analysis import dropout_variance_shift, recalibrate_batch_stats, signal_propagation
from nish_jax.data import load
from nish_jax.train import TrainResult, make_evaluator, sharding
from nish_jax.train.components import build_setup, load_split

EXPERIMENT = "depth_mechanism"
TITLE = "Fig. 2a's mechanism: deep MLPs by arm, as trained and BatchNorm-recalibrated"
REFERENCE = "nish"
# The accuracies every run reports, in the table's order.
ACCURACIES = {
    "test_top1_percent": "test, as trained",
    "recalibrated_test_top1_percent": "test, recalibrated",
    "train_eval_top1_percent": "train set, eval mode",
}


def check_config(config: ml_collections.ConfigDict) -> None:
    report.check_spread(config.spread)
    if set(config.arm_settings) != set(config.arms):
        raise ValueError(
            f"config.arms {list(config.arms)} and config.arm_settings {list(config.arm_settings)} "
            "must name the same arms"
        )
    for name, arm in config.arm_settings.items():
        unknown = set(arm.activations) - set(config.activations)
        if unknown:
            raise ValueError(f"config.arm_settings.{name} runs {sorted(unknown)}, not activations")
    for arm, _ in config.primary:
        if arm not in config.arms:
            raise ValueError(f"config.primary names arm {arm!r}; valid: {', '.join(config.arms)}")
    for act in config.reading.smooth:
        if act not in config.primary_baselines:
            raise ValueError(
                f"config.reading.smooth names {act!r}; valid: the primary baselines "
                f"{', '.join(config.primary_baselines)}"
            )
    for act in config.reading.like_nish:
        if act not in config.activations:
            raise ValueError(
                f"config.reading.like_nish names {act!r}; valid: {', '.join(config.activations)}"
            )


def points(config: ml_collections.ConfigDict) -> list[grid.Point]:
    """Every arm x activation at ``config.depth``, primary arms first (a run done in parts)."""
    found = []
    for name in config.arms:
        arm = config.arm_settings[name]
        for act in arm.activations:
            train = grid.engine_config(config.train, act, depth=config.depth, dropout=arm.dropout)
            train.learning_rate = config.train.learning_rate * arm.lr_factor  # as the sweep's
            train.num_runs, train.seed = arm.num_runs, arm.seed
            found.append(grid.Point({"arm": name}, act, train))
    return found


def _with_runs_axis(variables: Mapping[str, Any]) -> dict[str, Any]:
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], dict(variables))


def _grad_ratio(model, variables, inputs, labels, mode: str, key) -> float:
    """log10 of the first over the last hidden layer's mean per-example kernel gradient norm
    (:func:`experiments.mnist.gradient_flow.layer_statistics`)."""
    norms = layer_statistics(model, variables, inputs, labels, mode=mode, dropout_key=key)
    first, last = (float(norms["kernel_grad_norm"][i]) for i in (0, -1))
    return math.log10(first / last) if first > 0 and last > 0 else math.nan


def _extreme(shift: Sequence[float]) -> float:
    """The layer's ratio furthest from 1 (in log terms): above 1 or below it."""
    return max(shift, key=lambda ratio: abs(math.log(ratio)) if ratio > 0 else math.inf)


def _variance_shift(model, variables, inputs, key) -> tuple[list[float], list[float]]:
    """Per activation site: eval-mode over train-mode variance of the activation's input, over
    all its elements and per unit (the signal)."""
    found = signal_propagation(model, variables, inputs, dropout_key=key)
    train = {s.index: s for s in found if s.mode == "train"}
    evals = [s for s in found if s.mode == "eval"]
    return (
        [s.pre_var / train[s.index].pre_var for s in evals],
        [s.pre_unit_var / train[s.index].pre_unit_var for s in evals],
    )


def measure_mechanism(config: ml_collections.ConfigDict) -> grid.Measurement:
    """The measurements of the module doc, for every run of a trained program."""
    train0 = config.train
    test = load(train0.dataset, "test", data_dir=train0.data_dir or None)
    inputs, labels = probe_batch(test, config.probe_examples)
    grad_inputs, grad_labels = (
        inputs[: config.gradient_examples],
        labels[: config.gradient_examples],
    )
    key = jax.random.key(config.probe_seed)

    def measure(train: ml_collections.ConfigDict, result: TrainResult) -> list[dict[str, Any]]:
        setup = build_setup(train, sharding.make_mesh())
        model = setup.model
        train_set = load_split(train, "train")
        whole, _ = probe_batch(train_set, train_set.num_examples)
        batches = [whole[i : i + 1000] for i in range(0, whole.shape[0], 1000)]
        evaluate_test = make_evaluator(train, setup.test_data, apply_fn=model.apply)
        evaluate_train = make_evaluator(train, train_set, apply_fn=model.apply)
        initial = setup.initial_state()
        rows = []
        for run in range(train.num_runs):
            if result.runs[run]["diverged"]:
                rows.append({"run": run, **dict.fromkeys(MEASURED, math.nan)})
                continue
            variables = run_variables(result.state, run)
            recalibrated = recalibrate_batch_stats(model, variables, batches)
            shift, signal = _variance_shift(model, variables, inputs, key)
            recalibrated_shift, _ = _variance_shift(model, recalibrated, inputs, key)
            start = run_variables(initial, run)
            rows.append(
                {
                    "run": run,
                    "recalibrated_test_top1_percent": 100
                    * evaluate_test(_with_runs_axis(recalibrated))[0]["top1"],
                    "train_eval_top1_percent": 100
                    * evaluate_train(_with_runs_axis(variables))[0]["top1"],
                    "var_shift_extreme": _extreme(shift),
                    "var_shift_max": max(shift),
                    "var_shift_min": min(shift),
                    "var_shift_last": shift[-1],
                    "var_shift_by_layer": ";".join(f"{v:.4g}" for v in shift),
                    "signal_shift_last": signal[-1],
                    "signal_shift_by_layer": ";".join(f"{v:.4g}" for v in signal),
                    "recalibrated_var_shift_extreme": _extreme(recalibrated_shift),
                    **{
                        f"grad_ratio_{stage}_{mode}": _grad_ratio(
                            model, state, grad_inputs, grad_labels, mode, key
                        )
                        for stage, state in (("init", start), ("trained", variables))
                        for mode in ("train", "eval")
                    },
                }
            )
        return rows

    settings = {
        "probe_examples": config.probe_examples,
        "gradient_examples": config.gradient_examples,
        "probe_seed": config.probe_seed,
    }
    return grid.Measurement(records.measurement_key(EXPERIMENT, 2, **settings), measure)


MEASURED = (
    "recalibrated_test_top1_percent",
    "train_eval_top1_percent",
    "var_shift_extreme",
    "var_shift_max",
    "var_shift_min",
    "var_shift_last",
    "var_shift_by_layer",
    "signal_shift_last",
    "signal_shift_by_layer",
    "recalibrated_var_shift_extreme",
    *(f"grad_ratio_{s}_{m}" for s in ("init", "trained") for m in ("train", "eval")),
)


def measurement(config: ml_collections.ConfigDict) -> grid.Measurement:
    return measure_mechanism(config)


def long_rows(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per run and accuracy (``measure``), so that one family of comparisons spans
    them."""
    return [
        {
            "arm": row["arm"],
            "measure": measure,
            "activation": row["activation"],
            "seed": row["seed"],
            "diverged": row["diverged"],
            "value": row[measure],
        }
        for row in runs
        for measure in ACCURACIES
    ]


def comparisons(
    config: ml_collections.ConfigDict,
    runs: Sequence[Mapping[str, Any]],
    reference: str = REFERENCE,
) -> list[dict[str, Any]]:
    """``reference`` (Nish) against every other activation, per arm and accuracy, paired by
    seed; the primary family is ``config.primary`` ((arm, accuracy) cells) against
    ``config.primary_baselines``."""
    primary = {tuple(cell) for cell in config.primary}
    return stats.compare_activations(
        long_rows(runs),
        cell_keys=("arm", "measure"),
        metric="value",
        higher_is_better=True,
        reference=reference,
        is_primary=lambda cell, baseline: (
            (cell["arm"], cell["measure"]) in primary and baseline in config.primary_baselines
        ),
    )


def _summary(runs, key: str, **where: Any) -> stats.Summary:
    return stats.summarize(grid.values_of(runs, key, **where))


def _within_run(runs, minuend: str, subtrahend: str, **where: Any) -> stats.Summary:
    """``minuend`` minus ``subtrahend`` of each finished run matching ``where``, summarised."""
    return stats.summarize(
        r[minuend] - r[subtrahend] for r in grid.select(runs, **where) if not r["diverged"]
    )


@functools.cache
def _predicted_signal(act: str, dropout: float, depth: int) -> float:
    """The mean-field signal shift at the last layer (``dropout_variance_shift``), computed once
    per activation, dropout and depth: arms share them, and every republication asks again."""
    return float(dropout_variance_shift(get_activation(act), dropout, depth).signal[-1])


def make_table(
    config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]], compared
) -> report.Table:
    """One row per arm and activation: the three accuracies, the recalibration's gain, the
    largest variance shift before and after recalibration, the signal's shift at the last layer
    beside the mean-field prediction, and the gradient ratios."""
    columns = [
        "arm",
        "activation",
        *ACCURACIES.values(),
        "recalibration gain",
        "var shift furthest from 1 (after recal.)",
        "signal shift, last layer (theory)",
        "grad ratio train / eval (trained)",
        "Nish - it, test as trained [95% CI]",
        "Nish - it, recalibrated [95% CI]",
    ]
    cells, numeric = [], []
    for arm in config.arms:
        for act in config.arm_settings[arm].activations:
            where = {"arm": arm, "activation": act}
            accuracy = {key: _summary(runs, key, **where) for key in ACCURACIES}
            gain = _within_run(runs, "recalibrated_test_top1_percent", "test_top1_percent", **where)
            shift = _summary(runs, "var_shift_extreme", **where)
            after = _summary(runs, "recalibrated_var_shift_extreme", **where)
            signal = _summary(runs, "signal_shift_last", **where)
            predicted = _predicted_signal(act, config.arm_settings[arm].dropout, config.depth)
            ratio = {
                m: _summary(runs, f"grad_ratio_trained_{m}", **where) for m in ("train", "eval")
            }
            versus = [
                report.versus(
                    compared, cell=stats.cell_name({"arm": arm, "measure": m}), baseline=act
                )[0]
                for m in ("test_top1_percent", "recalibrated_test_top1_percent")
            ]
            cells.append(
                [
                    arm,
                    act,
                    *(report.format_mean_spread(s, config.spread) for s in accuracy.values()),
                    report.format_mean_spread(gain, config.spread),
                    f"{shift.mean:.3g} ({after.mean:.3g})",
                    f"{signal.mean:.2g} ({predicted:.2g})",
                    f"{ratio['train'].mean:+.2f} / {ratio['eval'].mean:+.2f}",
                    *versus,
                ]
            )
            numeric.append(
                {
                    **where,
                    **{f"{key}_mean": s.mean for key, s in accuracy.items()},
                    **{f"{key}_std": s.std for key, s in accuracy.items()},
                    "recalibration_gain_mean": gain.mean,
                    "var_shift_extreme_mean": shift.mean,
                    "recalibrated_var_shift_extreme_mean": after.mean,
                    "signal_shift_last_mean": signal.mean,
                    "signal_shift_last_predicted": predicted,
                    "grad_ratio_trained_train_mean": ratio["train"].mean,
                    "grad_ratio_trained_eval_mean": ratio["eval"].mean,
                }
            )
    notes = [
        f"- Accuracies (%): mean {report.SPREADS[config.spread]} over the arm's paired seeds "
        "(module doc for each measure); recalibration gain: recalibrated minus as-trained test "
        "accuracy, per seed.",
        "- Variance shift: eval-mode over train-mode variance of each hidden activation's input "
        "on a fixed test batch; the layer furthest from 1 (dropout before a BatchNorm makes the "
        "train-mode variance larger, so that layer's ratio falls below 1), mean over seeds "
        "(after recalibration in brackets). 1: the modes agree.",
        "- Signal shift: the same ratio of each unit's own variance, averaged over the units, "
        "at the last hidden layer, mean over seeds; in brackets the mean-field prediction for "
        "the arm's dropout (`nish_jax.analysis.dropout_variance_shift`: random weights, "
        "BatchNorm scale 1 and bias 0; exploratory).",
        "- Grad ratio: log10 of the first over the last hidden layer's per-example kernel "
        "gradient norm of the trained network, train mode (batch statistics, dropout on) / eval "
        "mode; 0: no vanishing or exploding across the depth.",
        "- Nish - it: paired mean difference (points), 95% CI; p values, the Wilcoxon test and "
        "the Holm families are in comparisons.csv.",
    ]
    return report.Table(columns, cells, numeric, notes)


def make_figure(config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]], compared):
    """Left: test accuracy as trained and recalibrated per arm and activation; right: the
    variance shift per layer in the origin arm (mean over seeds)."""
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    acts = list(config.activations)
    width = 0.8 / max(1, len(config.arms))
    for index, arm in enumerate(config.arms):
        for marker, key in (("o", "test_top1_percent"), ("^", "recalibrated_test_top1_percent")):
            means = [_summary(runs, key, arm=arm, activation=act).mean for act in acts]
            x = np.arange(len(acts)) + (index - (len(config.arms) - 1) / 2) * width
            left.scatter(
                x,
                means,
                marker=marker,
                color=f"C{index}",
                facecolors="none" if marker == "^" else f"C{index}",
                label=f"{arm}, {ACCURACIES[key]}",
            )
    left.set_xticks(range(len(acts)), acts)
    left.set_ylabel("accuracy (%)")
    left.set_ylim(0, 100)
    left.grid(alpha=0.3)
    left.legend(fontsize=7)
    for act in acts:
        layers = [
            [float(v) for v in str(r["var_shift_by_layer"]).split(";")]
            for r in grid.select(runs, arm=config.arms[0], activation=act)
            if not r["diverged"]
        ]
        if layers:
            right.plot(range(1, len(layers[0]) + 1), np.mean(layers, axis=0), label=act)
    right.axhline(1.0, color="k", lw=0.8)
    right.set_yscale("log")
    right.set_xlabel("hidden layer")
    right.set_ylabel("variance shift (eval / train)")
    right.set_title(f"arm {config.arms[0]}", fontsize=9)
    right.legend(fontsize=7)
    figure.suptitle(report.label(TITLE, config.name), fontsize=9)
    return figure


def better_steps(
    config: ml_collections.ConfigDict,
    runs: Sequence[Mapping[str, Any]],
    sweep_runs: Sequence[Mapping[str, Any]],
) -> dict[str, tuple[float, float, int]]:
    """Per activation of the reading: its mean test accuracy as trained at its better step, that
    step's factor, x1 (``origin``) or x3 (``step3x``, or the depth sweep's x3 programs at
    ``config.depth`` for an activation the arm leaves out), and how many of that step's runs
    diverged (counted, not averaged, as in the primary cells' paired means)."""
    found = {}
    for act in (REFERENCE, *config.reading.like_nish, *config.reading.smooth):
        x3 = grid.select(runs, arm="step3x", activation=act) or grid.select(
            sweep_runs, depth=config.depth, lr_factor=3.0, activation=act
        )
        if not x3:
            raise ValueError(
                f"no x3 runs of {act} at depth {config.depth}: neither the step3x arm nor the "
                "depth sweep's rows have them"
            )
        steps = {1.0: grid.select(runs, arm="origin", activation=act), 3.0: x3}
        means = {
            factor: stats.summarize(grid.values_of(rows, "test_top1_percent")).mean
            for factor, rows in steps.items()
        }
        factor = max(means, key=lambda f: -math.inf if math.isnan(means[f]) else means[f])
        found[act] = (means[factor], factor, sum(bool(r["diverged"]) for r in steps[factor]))
    return found


def reading(
    config: ml_collections.ConfigDict,
    runs: Sequence[Mapping[str, Any]],
    compared: Sequence[Mapping[str, Any]],
    sweep_runs: Sequence[Mapping[str, Any]],
) -> tuple[str, list[str]]:
    """The pre-registered reading (the config's module doc): ``"protocol"``, ``"shape"`` or
    ``"open"``, and the lines that give the numbers it rests on (paired mean differences in
    points; ``sweep_runs``: the depth sweep's rows, for :func:`better_steps`)."""
    rule = config.reading
    leaders = (REFERENCE, *rule.like_nish)
    # Paired mean differences (finished pairs) of Nish, and of each activation like it, against
    # the others: the experiment's comparisons, and the same pairing from the other reference.
    differences = {
        (row["activation"], row["cell"], row["baseline"]): row["mean_diff"]
        for leader in leaders
        for row in (compared if leader == REFERENCE else comparisons(config, runs, leader))
    }
    lines, protocol_cells, shape_holds = [], [], True
    for arm, measure in config.primary:
        cell = stats.cell_name({"arm": arm, "measure": measure})
        ahead = {
            (leader, act): differences[(leader, cell, act)]
            for leader in leaders
            for act in rule.smooth
        }
        if all(ahead[(REFERENCE, act)] < rule.protocol_points for act in rule.smooth):
            protocol_cells.append(cell)
        shape_holds &= all(diff > rule.shape_points for diff in ahead.values())
        lines.append(
            f"- {arm}, {ACCURACIES[measure]} (paired mean differences over finished pairs): "
            + "; ".join(f"{a} - {b} {d:+.2f}" for (a, b), d in ahead.items())
        )
    best = better_steps(config, runs, sweep_runs)
    lines.append(
        "- Each at its better step (as trained, mean over its runs, unpaired): "
        + ", ".join(
            f"{act} {mean:.2f}% (x{factor:g}{f', {gone} diverged' if gone else ''})"
            for act, (mean, factor, gone) in best.items()
        )
    )
    shape_holds &= all(
        best[leader][0] - best[act][0] > rule.shape_points
        for leader in leaders
        for act in rule.smooth
    )
    smooth = ", ".join(rule.smooth)
    where = " and ".join(protocol_cells)
    lines += [
        f"- Protocol (Nish - each of {smooth} below {rule.protocol_points:g} points in a primary "
        f"cell): {f'holds in {where}' if protocol_cells else 'does not hold'}.",
        f"- Shape (Nish and {', '.join(rule.like_nish) or 'no other'} more than "
        f"{rule.shape_points:g} points ahead of each of {smooth} in both primary cells and at "
        f"each one's better step): {'holds' if shape_holds else 'does not hold'}.",
    ]
    outcome = "protocol" if protocol_cells else "shape" if shape_holds else "open"
    return outcome, lines


def within_run_differences(
    runs: Sequence[Mapping[str, Any]], arm: str, minuend: str, subtrahend: str, acts: Sequence[str]
) -> str:
    """Per activation, ``minuend`` minus ``subtrahend`` of the same runs of ``arm`` (finished
    ones): mean and 95% t interval, in accuracy points."""

    def one(act: str) -> str:
        summary = _within_run(runs, minuend, subtrahend, arm=arm, activation=act)
        row = {"mean_diff": summary.mean, "ci_low": summary.ci_low, "ci_high": summary.ci_high}
        return f"{act} {report.format_interval(row, 1)} (n = {summary.n})"

    return "; ".join(one(act) for act in acts)


def prediction_lines(
    config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The variance-shift theory's predictions (exploratory, written before the first run: the
    origin arm's collapsed networks, the config's primary baselines, test at least at their
    dropout-on training accuracy once recalibrated; Nish and the activations like it moved
    little by recalibration; without dropout, none far below its training accuracy), each beside
    what the runs measured, paired within each run."""
    collapsed = list(config.primary_baselines)
    others = [REFERENCE, *config.reading.like_nish]
    every = [act for act in config.activations if act in {*collapsed, *others}]
    return [
        "- Recalibrated test minus training accuracy (dropout on, as logged), origin arm; "
        "predicted at least 0 for the collapsed networks: "
        + within_run_differences(
            runs, "origin", "recalibrated_test_top1_percent", "train_top1_percent", every
        )
        + ".",
        "- Recalibration gain (recalibrated minus as-trained test accuracy), origin arm; "
        f"predicted small for {', '.join(others)}: "
        + within_run_differences(
            runs, "origin", "recalibrated_test_top1_percent", "test_top1_percent", every
        )
        + ".",
        "- Test minus training accuracy without dropout; predicted not far below 0 for any: "
        + within_run_differences(
            runs, "no_dropout", "test_top1_percent", "train_top1_percent", every
        )
        + ".",
    ]


def summary_lines(config, runs, compared, table) -> list[str]:
    return [
        f"- Scale: depth {config.depth}, arms "
        + "; ".join(
            f"{arm} (dropout {s.dropout}, step x{s.lr_factor:g}, {s.num_runs} seeds: "
            f"{', '.join(s.activations)})"
            for arm, s in ((a, config.arm_settings[a]) for a in config.arms)
        )
        + ".",
        "- Primary family (Holm): Nish minus "
        f"{', '.join(config.primary_baselines)} in the cells "
        f"{', '.join(f'{arm}/{measure}' for arm, measure in config.primary)}:",
        *report.primary_lines(compared, " points"),
    ]
