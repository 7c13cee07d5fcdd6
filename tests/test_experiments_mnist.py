"""The MNIST experiments end to end on their "smoke" configs (real MNIST, tiny), and the gradient
flow computation on a real batch."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

from experiments import demo, readme, registry
from experiments.core import experiment, grid, records, report, stats
from experiments.mnist import depth_mechanism, depth_sweep, gradient_flow, noise_robustness
from experiments.mnist.configs import depth_sweep as depth_sweep_configs
from experiments.mnist.configs import gradient_flow as gradient_flow_configs
from experiments.mnist.configs import noise_robustness as noise_configs
from nish_jax.data import load
from nish_jax.models import create_model
from nish_jax.train.machine import computed_on

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def script_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, set[str]]:
    """experiments/mnist/full.sh on the smoke variant, run once as a user runs it, into the
    module's results root; returns the root, the finished process and its MLP run directories.
    The tests below find its programs trained, as a user finds them after the script."""
    root = tmp_path_factory.mktemp("results")
    env = {**os.environ, "OUTPUT_ROOT": str(root), "PY": sys.executable}
    done = subprocess.run(
        ["bash", "experiments/mnist/full.sh", "smoke"],
        env=env, capture_output=True, text=True, timeout=900, cwd=ROOT,
    )  # fmt: skip
    return root, done, run_dirs(str(root)) if (root / "runs").is_dir() else set()


@pytest.fixture(scope="module")
def output_root(script_run) -> str:
    """One results root for the module: the experiments share runs and the compilation cache."""
    return str(script_run[0])


def smoke(configs, output_root: str, **overrides):
    config = configs.get_config("smoke")
    config.output_root = output_root
    for key, value in overrides.items():
        config[key] = value
    return config


def check_outputs(results, activations: tuple[str, ...]) -> list[dict[str, str]]:
    """Every published file exists and is labelled; returns the runs.csv rows."""
    with open(results.files["figure"], "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"
    table = open(results.files["table"]).read()
    assert "SMOKE run" in table.splitlines()[0]
    assert all(f"| {act} |" in table or f" {act} " in table for act in activations)
    assert "±" not in table or any(meaning in table for meaning in report.SPREADS.values())
    summary = open(results.files["summary"]).read()
    assert "SMOKE run" in summary and "figure.png" in summary
    comparisons = report.read_csv(results.files["comparisons"])
    assert comparisons and list(comparisons[0]) == list(stats.COMPARISON_COLUMNS)
    return report.read_csv(results.files["runs"])


def run_dirs(output_root: str) -> set[str]:
    """The run directories of the MLP programs (the depth sweep's and gradient flow's)."""
    return {d for d in os.listdir(os.path.join(output_root, "runs")) if d.startswith("mlp-")}


def test_depth_sweep_smoke_pairs_seeds_and_keys_runs_by_config(output_root):
    results = experiment.run(depth_sweep, smoke(depth_sweep_configs, output_root))
    rows = check_outputs(results, ("relu", "nish", "gelu"))
    # 2 depths x 2 activations, the GELU control at depth 3, the x3 learning rate for 2 acts.
    points = {(r["activation"], r["depth"], r["lr_factor"]) for r in rows}
    assert len(points) == 7 and len(rows) == 14
    assert {r["seed"] for r in rows} == {"0", "1"}
    assert all(0.0 <= float(r["test_top1_percent"]) <= 100.0 for r in rows)
    # Primary: Nish against the paper's activations at the primary depth; the GELU control
    # and the other learning rate are exploratory.
    primary = {(c["cell"], c["baseline"]) for c in results.comparisons if c["primary"]}
    assert primary == {("depth=3, lr_factor=1.0", "relu")}
    exploratory = {(c["cell"], c["baseline"]) for c in results.comparisons} - primary
    assert ("depth=3, lr_factor=1.0", "gelu") in exploratory
    first = run_dirs(output_root)
    assert len(first) == 14  # one program per (point, seed)

    # The same config again reuses every run and gives the same numbers.
    again = experiment.run(depth_sweep, smoke(depth_sweep_configs, output_root))
    assert run_dirs(output_root) == first
    assert report.read_csv(again.files["runs"]) == rows

    # Another learning rate is another computation: new runs, never the old ones relabelled.
    config = smoke(depth_sweep_configs, output_root)
    config.train.learning_rate = 0.02
    config.learning_rate_factors = config.control_activations = ()
    changed = experiment.run(depth_sweep, config)
    new = run_dirs(output_root) - first
    assert len(new) == 8
    assert {r["workdir"] for r in changed.runs} <= {
        os.path.join(output_root, "runs", d) for d in new
    }


def test_a_sweep_done_in_parts_needs_only_its_committed_records(tmp_path, capsys):
    """Finished programs leave small records; without the (large) run directories, as on a new
    checkout of the committed results, the sweep trains nothing again and publishes the same.
    Each run first says how much of the sweep is recorded and how much is left."""
    config = smoke(depth_sweep_configs, str(tmp_path), control_activations=())
    config.depths, config.primary_depths, config.learning_rate_factors = (1,), (1,), ()
    first = experiment.run(depth_sweep, config)
    left = (
        f"depth_sweep [smoke]: {{}} of 4 programs recorded in {tmp_path / 'finished'}; {{}} to run"
    )
    assert left.format(0, 4) in capsys.readouterr().out
    published = report.read_csv(first.files["runs"])
    assert len(os.listdir(tmp_path / "finished")) == 4  # 2 activations x 2 seeds
    here = computed_on(jax.devices())
    assert {row["trained_on"] for row in published} == {here}
    assert json.load(open(first.files["meta"]))["trained_on"] == {here: 4}
    shutil.rmtree(tmp_path / "runs")
    meta = json.load(open(first.files["meta"]))
    meta["date"] = "2026-01-01T00:00:00+00:00"  # as committed earlier
    Path(first.files["meta"]).write_text(json.dumps(meta))
    again = experiment.run(depth_sweep, config)
    assert left.format(4, 0) in capsys.readouterr().out
    assert not (tmp_path / "runs").exists()
    assert report.read_csv(again.files["runs"]) == published  # the same file, rewritten
    assert json.load(open(again.files["meta"])) == meta  # the same runs: not dated anew

    # A record from before records named their machine says so, and is counted apart.
    older = sorted((tmp_path / "finished").iterdir())[0]
    record = json.loads(older.read_text())
    del record["trained_on"]
    older.write_text(json.dumps(record))
    counted = json.load(open(experiment.run(depth_sweep, config).files["meta"]))["trained_on"]
    assert counted == {"machine not recorded": 1, here: 3}


def test_the_readme_states_each_mnist_claim_with_its_comparisons_and_controls(output_root):
    config = smoke(depth_sweep_configs, output_root)
    config.name = "origin"  # a config the generated pages show
    results = experiment.run(depth_sweep, config)
    text = readme.mnist_claims(readme.read_committed(output_root))
    fig2a, noise = text.split("**Fig. 2b")
    assert "Ours [origin config]" in fig2a
    assert "Not tested: no committed run." in noise  # no noise run under a README config
    by_row = {(c["cell"], c["baseline"]): c for c in results.comparisons}
    primary, controls = fig2a.split("Controls (exploratory")

    def row(cell: str, baseline: str) -> str:
        return f"| {cell} | {baseline} | {report.format_interval(by_row[(cell, baseline)])} |"

    assert row("depth=3, lr_factor=1.0", "relu") in primary and "gelu" not in primary
    # The controls: GELU at the primary depth, and Nish against ReLU both at 3x the base rate.
    assert row("depth=3, lr_factor=1.0", "gelu") in controls
    assert row("depth=3, lr_factor=3.0", "relu") in controls
    claim = readme.CLAIMS[0]
    assert f"Verdict: **{readme.verdict(claim, results.comparisons)}**" in fig2a


def test_the_depth_figure_shows_the_committed_learning_rate_check_in_its_activations_colours():
    config, runs, _ = readme.load_committed(str(ROOT / "docs/results/depth_sweep/full"))
    figure = depth_sweep.make_figure(config, runs, [])
    handles, labels = figure.axes[0].get_legend_handles_labels()
    handle_of = dict(zip(labels, handles, strict=True))
    checks = [(act, factor) for act in ("mish", "nish") for factor in ("0.3", "3")]
    for act, factor in checks:
        marker = handle_of[f"{act}, lr x{factor}"].lines[0]
        assert marker.get_color() == handle_of[act].get_color()
        # Drawn at the mean of the committed runs of that rate, beside the deepest depth.
        values = grid.values_of(
            runs, "test_top1_percent", activation=act, depth=25, lr_factor=float(factor)
        )
        assert len(values) == 5
        assert float(marker.get_ydata()[0]) == pytest.approx(np.mean(values))
        assert marker.get_xdata()[0] == pytest.approx(25.3 if factor == "3" else 24.7)


def test_depth_sweep_records_diverged_runs_and_goes_on(tmp_path):
    config = smoke(depth_sweep_configs, str(tmp_path), control_activations=())
    config.depths, config.primary_depths = (2,), (2,)
    config.learning_rate_factors = (1e6,)  # these runs blow up; the others must not care
    results = experiment.run(depth_sweep, config)
    diverged = [r for r in results.runs if r["diverged"]]
    assert {(r["activation"], r["lr_factor"]) for r in diverged} == {("relu", 1e6), ("nish", 1e6)}
    assert all(math.isnan(r["test_top1_percent"]) for r in diverged)
    assert all(not r["diverged"] for r in results.runs if r["lr_factor"] == 1.0)
    blown = [c for c in results.comparisons if c["cell"] == "depth=2, lr_factor=1000000.0"]
    assert blown[0]["diverged_activation"] == blown[0]["diverged_baseline"] == 2
    assert "2 of 2 diverged" in open(results.files["table"]).read()


@pytest.mark.parametrize("protocol", ["noisy_training", "clean_training"])
def test_noise_robustness_smoke(output_root, protocol):
    results = experiment.run(noise_robustness, smoke(noise_configs, output_root, protocol=protocol))
    rows = check_outputs(results, ("relu", "nish"))
    assert len(rows) == 2 * 2 * 2 * 2  # activations x depths x seeds x noise levels
    assert {float(r["noise_std"]) for r in rows} == {0.0, 1.0}
    assert all(math.isfinite(float(r["test_loss"])) for r in rows)
    trained = {r["workdir"] for r in rows}
    # Noisy training trains one network per level; clean training tests one at every level.
    assert len(trained) == (16 if protocol == "noisy_training" else 8)
    primary = [c for c in results.comparisons if c["primary"]]
    assert {c["cell"] for c in primary} == {"depth=1, noise_std=mean", "depth=2, noise_std=mean"}


def test_noise_robustness_rejects_unknown_protocol(tmp_path):
    with pytest.raises(ValueError, match="valid: noisy_training, clean_training"):
        experiment.run(noise_robustness, smoke(noise_configs, str(tmp_path), protocol="noisy"))


def test_gradient_flow_smoke_reuses_the_depth_sweeps_runs(output_root):
    experiment.run(depth_sweep, smoke(depth_sweep_configs, output_root))
    before = run_dirs(output_root)
    results = experiment.run(gradient_flow, smoke(gradient_flow_configs, output_root))
    assert run_dirs(output_root) == before  # the same training: nothing trained again
    rows = check_outputs(results, ("relu", "nish"))
    # activations x stages x modes x seeds x layers (1 + 3)
    assert len(rows) == 2 * 2 * 2 * 2 * (1 + 3)
    assert {r["mode"] for r in rows} == {"train", "eval"}
    # meta.json counts runs (2 depths x 2 activations x 2 seeds), not their rows
    here = computed_on(jax.devices())
    assert json.load(open(results.files["meta"]))["trained_on"] == {here: 8}
    dead = {
        act: [float(r["dead_fraction"]) for r in rows if r["activation"] == act]
        for act in ("relu", "nish")
    }
    assert min(dead["relu"]) > 0.05 and max(dead["nish"]) == 0.0


def test_a_measured_program_needs_only_its_records(tmp_path, caplog):
    """Gradient flow records each program's measurements with its final metrics: without the run
    directories it trains and measures nothing again (that the depth sweep then trains only the
    points gradient flow did not is the script test's), but a longer training is not answered by
    a shorter one's record. A program trained again that ends unlike its record is named, and its
    measured rows carry the final metrics of the state they measured."""
    root = str(tmp_path)
    config = smoke(gradient_flow_configs, root)
    first = experiment.run(gradient_flow, config)
    published = report.read_csv(first.files["runs"])
    trained = run_dirs(root)
    assert len(trained) == 2 * 2 * 2  # depths x activations x seeds
    shutil.rmtree(tmp_path / "runs")
    again = experiment.run(gradient_flow, config)
    assert not (tmp_path / "runs").exists()
    assert report.read_csv(again.files["runs"]) == published  # the same file, rewritten

    program = sorted(trained)[0]
    (plain,) = (tmp_path / "finished").glob(f"{program}-1ep-????????.json")
    record = json.loads(plain.read_text())
    record["runs"][0]["test_top1"] = 0.5
    record["trained_on"] = ["8 x TPU v9, jax 0.1"]
    plain.write_text(json.dumps(record))
    for measured in (tmp_path / "finished").glob(f"{program}-1ep-*.gradient_flow-*.json"):
        measured.unlink()
    with caplog.at_level(logging.WARNING, logger="experiments.core.grid"):
        third = experiment.run(gradient_flow, config)
    assert program in caplog.text and "unlike its record" in caplog.text
    assert f"trained on 8 x TPU v9, jax 0.1, this on {computed_on(jax.devices())}" in caplog.text
    rows = [r for r in third.runs if os.path.basename(r["workdir"]) == program]
    originals = [r for r in first.runs if os.path.basename(r["workdir"]) == program]
    assert [r["test_top1_percent"] for r in rows] == [r["test_top1_percent"] for r in originals]

    # The smoke MLP's constant schedule leaves num_epochs out of the run's fingerprint (a run can
    # be extended); its records still tell a 2-epoch program from a 1-epoch one.
    config.train.num_epochs = 2
    longer = experiment.run(gradient_flow, config)
    assert len(run_dirs(root)) == 8 and sorted((tmp_path / "finished").glob("*-2ep-*.json"))
    accuracy = [r["test_top1_percent"] for r in first.runs]
    assert [r["test_top1_percent"] for r in longer.runs] != accuracy


def test_a_new_version_of_a_measurement_is_not_answered_by_the_old_ones_records():
    key = records.measurement_key("gradient_flow", 1, num_examples=256)
    assert key.startswith("gradient_flow-v1-")
    assert records.measurement_key("gradient_flow", 2, num_examples=256) != key
    assert records.measurement_key("gradient_flow", 1, num_examples=128) != key


def test_the_full_scale_script_trains_every_program_once(script_run):
    """experiments/mnist/full.sh (here on the smoke variant): gradient flow, then the depth sweep,
    then the noise experiment, each program trained once and every output published."""
    root, done, mlp = script_run
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("gradient_flow", "depth_sweep", "noise_robustness"):
        assert (root / name / "smoke" / "runs.csv").is_file(), name
    # gradient flow's 2 depths x 2 activations x 2 seeds, then the sweep's GELU control (2 seeds)
    # and x3 learning rate (2 activations x 2 seeds): nothing trained twice
    assert len(mlp) == 8 + 6
    assert "now: " in done.stdout and "experiments.readme" in done.stdout


@pytest.fixture(scope="module")
def mnist_batch():
    return gradient_flow.probe_batch(load("mnist", "test"), 16)


def direct_kernel_norms(model, variables, image, label) -> list[float]:
    """The hidden kernels' gradient norms of one example, by plain jax.grad."""

    def loss(params):
        logits = model.apply({**variables, "params": params}, image[None], train=False)
        return optax.softmax_cross_entropy_with_integer_labels(logits, label[None]).sum()

    grads = jax.grad(loss)(variables["params"])
    return [float(np.linalg.norm(grads[f"dense{i}"]["kernel"])) for i in range(model.depth)]


@pytest.mark.parametrize("act", ["relu", "nish"])
def test_gradient_flow_per_layer_in_both_batchnorm_modes_on_a_real_batch(mnist_batch, act):
    """Eval mode: each example's kernel gradient on its own (as plain jax.grad gives it); train
    mode: through the batch's statistics, so it differs. ReLU blocks about half the units at
    init, Nish none."""
    inputs, labels = mnist_batch
    model = create_model("mlp", num_classes=10, act=act, depth=3, width=32)
    variables = model.init(jax.random.key(0), inputs[:1], train=False)
    key = jax.random.key(1)
    found = {
        mode: gradient_flow.layer_statistics(
            model, variables, inputs, labels, mode=mode, dropout_key=key, chunk_size=8
        )
        for mode in gradient_flow.MODES
    }
    eval_mode = found["eval"]
    assert all(values.shape == (3,) for values in eval_mode.values())
    direct = np.mean(
        [direct_kernel_norms(model, variables, x, y) for x, y in zip(inputs, labels, strict=True)],
        axis=0,
    )
    np.testing.assert_allclose(eval_mode["kernel_grad_norm"], direct, rtol=1e-4)
    assert not np.allclose(found["train"]["kernel_grad_norm"], direct, rtol=1e-2)
    for statistics in found.values():
        if act == "relu":
            assert 0.2 < statistics["dead_fraction"].mean() < 0.8
        else:  # Nish's derivative is nonzero almost everywhere
            assert np.all(statistics["dead_fraction"] == 0.0)


def test_demo_offline_without_data_says_how_to_provide_it(tmp_path, monkeypatch, capsys):
    """No MNIST anywhere and no network (a closed port): Fig. 1 and the benchmark still run,
    then one clear message and exit status 2, quickly, with no MNIST result written."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("NISH_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("NISH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NISH_MNIST_URL", f"http://127.0.0.1:{port}/")
    root = tmp_path / "results"
    assert demo.main(["--output-root", str(root)]) == 2
    error = capsys.readouterr().err
    assert "needs the real MNIST" in error and "NISH_DATA_DIR" in error
    assert (root / "fig1" / "activations.png").exists()
    assert not (root / "depth_sweep").exists()


def test_the_depth_mechanism_measures_every_program_in_both_batchnorm_modes(output_root):
    """Every run of every arm gets its recalibrated and eval-mode training accuracy, its
    per-layer variance shift (recalibration brings it to about 1: the modes then agree) and its
    gradient ratios in train and eval mode; the primary family is the config's 2 cells."""
    spec = registry.get("depth_mechanism")
    config = smoke(spec.config, output_root, name="full")  # as the results page looks for it
    results = spec.run(config)
    runs = results.runs
    assert {(r["arm"], r["activation"]) for r in runs} == {
        (arm, act) for arm in config.arms for act in config.arm_settings[arm].activations
    }
    assert {r["seed"] for r in runs if r["arm"] == "no_dropout"} == {100, 101}
    for row in runs:
        assert 0 <= row["recalibrated_test_top1_percent"] <= 100
        assert len(row["var_shift_by_layer"].split(";")) == config.depth
        assert len(row["signal_shift_by_layer"].split(";")) == config.depth
        assert 0 < row["signal_shift_last"] < float("inf")
        assert abs(row["recalibrated_var_shift_extreme"] - 1) < 0.2
        assert all(
            np.isfinite(row[f"grad_ratio_{s}_{m}"])
            for s in ("init", "trained")
            for m in ("train", "eval")
        )
    primary = [c for c in results.comparisons if c["primary"]]
    assert sorted(c["cell"] for c in primary) == [
        "arm=no_dropout, measure=test_top1_percent",
        "arm=origin, measure=recalibrated_test_top1_percent",
    ]
    # The reading takes Nish's x3 runs, which this arm leaves out, from the depth sweep's.
    with pytest.raises(ValueError, match="no x3 runs of nish at depth 3"):
        depth_mechanism.reading(config, runs, results.comparisons, sweep_runs=[])
    sweep = experiment.run(depth_sweep, smoke(depth_sweep_configs, output_root, name="full"))
    outcome, lines = depth_mechanism.reading(config, runs, results.comparisons, sweep.runs)
    assert outcome in ("protocol", "shape", "open")
    assert "nish" in lines[-3] and "(x3)" in "".join(lines)
    found = {
        (name, "full"): readme.read_result(result.directory)
        for name, result in (("depth_sweep", sweep), ("depth_mechanism", results))
    }
    page = readme.depth_mechanism_reading(found)
    assert f"Reading: **{readme.MECHANISM_READINGS[outcome]}**" in page
    # The theory's predictions beside the measurements, paired within each run.
    predictions = depth_mechanism.prediction_lines(config, runs)
    assert all(line in page for line in predictions) and len(predictions) == 3
    relu = [r for r in runs if (r["arm"], r["activation"]) == ("no_dropout", "relu")]
    gap = np.mean([r["test_top1_percent"] - r["train_top1_percent"] for r in relu])
    assert f"relu {gap:+.1f} [" in predictions[2]
    # The README's Fig. 2a table: the theory beside the sweep's accuracy, and the arms' means.
    glance = readme.depth_at_a_glance(found)
    assert "| retrained | retrained, recalibrated | without dropout |" in glance
    (nish_row,) = [line for line in glance.splitlines() if line.startswith("| nish |")]
    mean = lambda key, arm: np.mean(  # noqa: E731
        [r[key] for r in runs if r["arm"] == arm and r["activation"] == "nish"]
    )
    recalibrated = mean("recalibrated_test_top1_percent", "origin")
    assert nish_row.endswith(
        f"| {mean('test_top1_percent', 'origin'):.1f} | {recalibrated:.1f} "
        f"| {mean('test_top1_percent', 'no_dropout'):.1f} |"
    )
    assert "| 1.39 | 1.20 / 1.00 |" in nish_row  # Nish's gain and backward factors
    deepest = max(depth_sweep_configs.get_config("smoke").primary_depths)
    swept = np.mean(
        [
            r["test_top1_percent"]
            for r in sweep.runs
            if (r["depth"], r["lr_factor"], r["activation"]) == (deepest, 1.0, "nish")
        ]
    )
    assert f"| {swept:.1f} | {mean('test_top1_percent', 'origin'):.1f} |" in nish_row
    del found[("depth_mechanism", "full")]
    assert "under way" in readme.depth_at_a_glance(found)


def mechanism_rows(accuracy: dict, seeds=(0, 1, 2)) -> list[dict]:
    """Runs of the depth-mechanism design whose every accuracy is ``accuracy[arm][act]`` plus a
    per-seed wobble (so that the paired tests have a spread)."""
    return [
        {
            "arm": arm,
            "activation": act,
            "seed": seed,
            "diverged": False,
            **dict.fromkeys(depth_mechanism.ACCURACIES, value + 0.1 * seed * (act == "nish")),
        }
        for arm, by_act in accuracy.items()
        for act, value in by_act.items()
        for seed in seeds
    ]


@pytest.mark.parametrize(
    ("origin", "no_dropout", "step3x", "expected"),
    [
        # no dropout brings every smooth activation within 2 points of Nish: the protocol
        (dict(nish=94, elu=94, silu=20, gelu=24, mish=60, relu=11),
         dict(nish=97, elu=97, silu=96, gelu=96.5, mish=96.8, relu=95), {}, "protocol"),
        # Nish and ELU far ahead everywhere, at either step: the shape
        (dict(nish=94, elu=94, silu=20, gelu=24, mish=60, relu=11),
         dict(nish=97, elu=97, silu=50, gelu=52, mish=70, relu=40),
         {}, "shape"),
        # Mish's better step closes the gap (as the committed sweep's x3 has it): open
        (dict(nish=94, elu=94, silu=20, gelu=24, mish=60, relu=11),
         dict(nish=97, elu=97, silu=50, gelu=52, mish=70, relu=40),
         dict(mish=96), "open"),
    ],
)  # fmt: skip
def test_the_depth_mechanism_reading_follows_its_preregistered_rule(
    origin, no_dropout, step3x, expected
):
    config = registry.get("depth_mechanism").config.get_config("full")
    step3x = {"nish": 97, "mish": 70, "silu": 30, "gelu": 30, "elu": 95, "relu": 20, **step3x}
    own = {act: step3x[act] for act in config.arm_settings.step3x.activations}
    runs = mechanism_rows({"origin": origin, "no_dropout": no_dropout, "step3x": own})
    sweep = [
        {"depth": 25, "lr_factor": 3.0, "activation": act, "seed": seed, "diverged": False,
         "test_top1_percent": step3x[act]}
        for act in ("mish", "nish") for seed in range(5)
    ]  # fmt: skip
    compared = depth_mechanism.comparisons(config, runs)
    outcome, lines = depth_mechanism.reading(config, runs, compared, sweep)
    assert outcome == expected, lines


def test_the_robustness_endpoint_reports_its_power_and_clean_accuracy(output_root):
    """The confirmatory run's endpoint on the smoke networks: the rise in loss from clean to
    noisy inputs per seed, its primary family as the config names it, and beside each primary
    comparison the smallest difference it could detect and its reading; the results page gives
    them under each claim when the run is committed as ``confirm``."""
    config = smoke(
        noise_configs,
        output_root,
        protocol="clean_training",
        endpoint="robustness",
        name="confirm",
    )
    results = experiment.run(noise_robustness, config)
    primary = [c for c in results.comparisons if c["primary"]]
    assert {(c["cell"], c["baseline"]) for c in primary} == {
        ("depth=1, noise_std=rise", "relu"),
        ("depth=2, noise_std=rise", "relu"),
    }
    pilot = ROOT / "docs" / "results" / "noise_robustness" / "full"
    found = {
        ("noise_robustness", "confirm"): readme.read_result(results.directory),
        ("noise_robustness", "full"): readme.read_result(str(pilot)),
    }
    page = readme.mnist_claims(found)  # the paper's depths (5, 10) are not in the smoke run
    assert "Smallest detectable difference" in page and "2 layers: relu" in page
    # Under Fig. 2b, SiLU against ReLU in every committed noise run: the pilot's tight null stays.
    assert "the `confirm` run" not in page  # no 5-layer networks in the smoke run: no line
    assert "at 5 layers in the `full` run" in page and "-0.0004 [-0.0105, +0.0098]" in page
    (line,) = noise_robustness.power_lines(
        found[("noise_robustness", "confirm")]["comparisons"],
        lambda row: row["cell"].startswith("depth=2,"),
    )[1:]
    assert line.startswith("  - depth=2, noise_std=rise: vs relu ")
    assert any(word in line for word in ("significant", "alike at this", "inconclusive"))
    rises = noise_robustness.endpoint_rows(config, results.runs)
    clean = {
        (r["depth"], r["activation"], r["seed"]): r["test_loss"]
        for r in results.runs
        if r["noise_std"] == 0.0
    }
    noisy = {
        (r["depth"], r["activation"], r["seed"]): r["test_loss"]
        for r in results.runs
        if r["noise_std"] == 1.0
    }
    for row in rises:
        key = (row["depth"], row["activation"], row["seed"])
        assert row["test_loss_rise"] == pytest.approx(noisy[key] - clean[key])
    summary = "\n".join(results.summary)
    assert "Smallest detectable difference (80% power, alpha 0.025" in summary
    assert "Clean test accuracy (noise 0" in summary and "1 layers: relu" in summary
    assert "points short)" in summary  # 256 training images: far from the 98% target


def test_an_exploratory_noise_run_says_it_has_no_primary_comparison():
    """``confirm_noisy`` names no primary family: its summary says so instead of giving empty
    primary and power headings, and still checks the clean accuracy (its committed runs)."""
    directory = str(ROOT / "docs" / "results" / "noise_robustness" / "confirm_noisy")
    config, runs, _ = readme.load_committed(directory)
    compared = readme.read_result(directory)["comparisons"]
    lines = noise_robustness.summary_lines(config, runs, compared, table=None)
    assert not any(c["primary"] for c in compared)
    assert not any("Primary endpoint" in line or "Smallest detectable" in line for line in lines)
    assert any(line.startswith("- Exploratory: no primary comparison.") for line in lines)
    assert any(line.startswith("  - 10 layers: relu 99.") for line in lines)


@pytest.mark.parametrize(
    ("ci", "p_holm", "reading"),
    [
        ((-0.030, -0.010), 0.01, "significant, Nish's rise smaller"),
        ((+0.010, +0.030), 0.01, "significant, Nish's rise larger"),
        ((-0.004, +0.004), 0.60, "alike at this power"),
        ((-0.045, +0.005), 0.12, "inconclusive"),
        ((math.nan, math.nan), 1.0, "untestable"),
    ],
)
def test_each_primary_noise_comparison_is_read_by_the_preregistered_rule(ci, p_holm, reading):
    """Significant either way, alike (a null whose CI lies inside +- the detectable difference,
    about 1.4 CI half-widths at 40 pairs) or inconclusive (a null that rules nothing out)."""
    row = {
        "cell": "depth=10, noise_std=rise",
        "baseline": "mish",
        "primary": True,
        "n_pairs": 40,
        "ci_low": ci[0],
        "ci_high": ci[1],
        "mean_diff": sum(ci) / 2,
        "p_holm": p_holm,
    }
    (line,) = noise_robustness.power_lines([row])[1:]
    assert reading in line
