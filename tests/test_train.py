"""The training engine in-process on a small real MNIST subset: config checks, multi-seed runs,
exact evaluation, training and test noise, diverging runs and progress output."""

import json
import logging
import math
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.mnist.configs.mnist_mlp import get_config
from nish_jax.train import (
    Checkpointer,
    machine,
    make_evaluator,
    progress_bar,
    read_rows,
    train_and_evaluate,
    validate_config,
)
from nish_jax.train.components import build_model, build_preprocess, build_setup, load_split
from nish_jax.train.machine import computed_on, cpu_details, processor_name
from nish_jax.train.optim import learning_rate_schedule, make_optimizer
from nish_jax.train.sharding import make_mesh
from nish_jax.train.steps import step_keys

METRIC_KEYS = ("train_loss", "train_top1", "test_loss", "test_top1", "test_top5")


def smoke_config(**overrides):
    config = get_config("smoke")
    config.update(overrides)
    return config


@pytest.mark.parametrize(
    "key, value, named",
    [
        ("optimizer", "adm", "sgd, adam"),
        ("model", "resnet99", "mlp"),
        ("act", "nosh", "nish"),
        ("schedule", "linear", "warmup_cosine"),
        ("dtype", "float16", "bfloat16"),
        ("learning_rate", -0.1, "learning_rate"),
        ("num_runs", 0, "num_runs"),
        ("train_noise_std", -0.1, "train_noise_std"),
    ],
)
def test_invalid_values_are_rejected_naming_key_and_choices(key, value, named):
    config = smoke_config(**{key: value})
    with pytest.raises(ValueError, match=key) as error:
        validate_config(config)
    assert named in str(error.value)


def test_batch_not_divisible_by_devices_names_both_numbers():
    with pytest.raises(ValueError, match=r"batch_size=30 .*4 devices"):
        validate_config(smoke_config(batch_size=30), num_devices=4)


def test_invalid_config_fails_before_anything_is_written(tmp_path):
    workdir = tmp_path / "run"
    with pytest.raises(ValueError, match="valid choices: sgd, adam"):
        train_and_evaluate(smoke_config(optimizer="adm"), str(workdir))
    assert not workdir.exists()


def test_schedules_follow_their_definition():
    steps_per_epoch = 10
    config = smoke_config(learning_rate=1.0, num_epochs=4)
    config.update(dict(schedule="step", lr_decay_epochs=(1, 3), lr_decay_factor=0.1))
    step = learning_rate_schedule(config, steps_per_epoch)
    np.testing.assert_allclose([step(0), step(10), step(35)], [1.0, 0.1, 0.01], rtol=1e-6)
    config.update(dict(schedule="warmup_cosine", warmup_epochs=1.0))
    warm = learning_rate_schedule(config, steps_per_epoch)
    np.testing.assert_allclose([warm(0), warm(5), warm(10), warm(40)], [0, 0.5, 1, 0], atol=1e-6)
    config.schedule = "cosine"
    cosine = learning_rate_schedule(config, steps_per_epoch)
    np.testing.assert_allclose([cosine(0), cosine(20), cosine(40)], [1, 0.5, 0], atol=1e-6)


def test_sgd_weight_decay_is_l2_on_kernels_only():
    config = smoke_config(weight_decay=0.5, momentum=0.0, learning_rate=1.0)
    optimizer = make_optimizer(config, optax.constant_schedule(1.0))
    params = {"kernel": np.ones((2, 2), np.float32), "bias": np.ones(2, np.float32)}
    zero_grads = jax.tree_util.tree_map(np.zeros_like, params)
    updates, _ = optimizer.update(zero_grads, optimizer.init(params), params)
    np.testing.assert_allclose(updates["kernel"], -0.5)  # -lr * decay * w
    np.testing.assert_allclose(updates["bias"], 0.0)


@pytest.fixture(scope="module")
def two_seed_run(tmp_path_factory):
    """num_runs=2 vmapped in one program, and the same two seeds trained one by one."""
    root = tmp_path_factory.mktemp("runs")
    together = train_and_evaluate(smoke_config(num_runs=2, seed=3), str(root / "together"))
    alone = [train_and_evaluate(smoke_config(seed=s), str(root / f"seed{s}")) for s in (3, 4)]
    return together, alone


def assert_close_trees(mine, theirs):
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), mine, theirs
    )


def test_vmapped_runs_equal_separate_runs(two_seed_run):
    together, alone = two_seed_run
    for run, single in enumerate(alone):
        assert together.runs[run]["diverged"] is single.runs[0]["diverged"] is False
        for key in METRIC_KEYS:
            value = single.runs[0][key]
            assert together.runs[run][key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
        mine = jax.tree_util.tree_map(lambda x, r=run: np.asarray(x[r]), together.state.params)
        theirs = jax.tree_util.tree_map(lambda x: np.asarray(x[0]), single.state.params)
        assert_close_trees(mine, theirs)
    assert together.runs[0]["test_top1"] != together.runs[1]["test_top1"]
    assert together.runs[0]["test_top1"] > 0.6  # 2 epochs on 512 digits learn something


def test_run_directory_holds_config_metrics_and_checkpoints(two_seed_run):
    together, _ = two_seed_run
    workdir = together.workdir
    assert os.path.exists(os.path.join(workdir, "config.json"))
    for stream in ("train_steps", "epochs"):
        assert os.path.exists(os.path.join(workdir, f"{stream}.csv"))
    steps = [(row["step"], row["run"]) for row in read_rows(workdir, "train_steps")]
    assert steps == [(s, r) for s in range(4, 33, 4) for r in (0, 1)]
    epochs = read_rows(workdir, "epochs")
    assert [(row["epoch"], row["run"]) for row in epochs] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert Checkpointer(os.path.join(workdir, "checkpoints"), 2).all_steps() == [30, 32]


def test_keys_are_typed_and_checkpoints_hold_the_legacy_key_data(two_seed_run):
    # Run r's base key is the second half of split(key(seed + r)): the bits of the legacy
    # PRNGKey streams, so results and old checkpoints stay valid; checkpoints store key data.
    together, _ = two_seed_run
    state = together.state
    assert jax.dtypes.issubdtype(state.rng.dtype, jax.dtypes.prng_key)
    legacy = np.stack([jax.random.split(jax.random.PRNGKey(seed))[1] for seed in (3, 4)])
    np.testing.assert_array_equal(jax.random.key_data(state.rng), legacy)
    checkpointer = Checkpointer(os.path.join(together.workdir, "checkpoints"), 2)
    raw = checkpointer.restore()
    assert raw["rng"].dtype == np.uint32
    np.testing.assert_array_equal(raw["rng"], legacy)
    restored = checkpointer.restore(state)
    assert restored.rng.dtype == state.rng.dtype
    np.testing.assert_array_equal(jax.random.key_data(restored.rng), legacy)


def test_evaluation_counts_every_test_example_exactly(two_seed_run):
    together, _ = two_seed_run
    config = smoke_config(num_runs=2)
    test = load_split(config, "test")
    assert test.num_examples % config.eval_batch_size  # the last batch is partial
    metrics = make_evaluator(config, test)(together.state)
    model, preprocess = build_model(config, 10), build_preprocess(config, test)
    inputs = preprocess(jax.random.key(0), test.images, False)
    for run in range(2):
        variables = jax.tree_util.tree_map(
            lambda x, r=run: x[r],
            {"params": together.state.params, "batch_stats": together.state.batch_stats},
        )
        logits = np.asarray(model.apply(variables, inputs, train=False))
        top1 = np.mean(logits.argmax(-1) == test.labels)
        top5 = np.mean((np.argsort(-logits, -1)[:, :5] == test.labels[:, None]).any(-1))
        assert metrics[run]["top1"] == pytest.approx(top1, abs=1e-6)
        assert metrics[run]["top5"] == pytest.approx(top5, abs=1e-6)
        assert metrics[run]["top1"] == pytest.approx(together.runs[run]["test_top1"])


def test_one_evaluator_measures_several_noise_levels(two_seed_run):
    together, _ = two_seed_run
    config = smoke_config(num_runs=2)
    evaluator = make_evaluator(config, load_split(config, "test"))
    clean, noisy, very_noisy = (evaluator(together.state, s)[0] for s in (0.0, 0.3, 3.0))
    assert evaluator(together.state, 0.3)[0] == noisy  # the noise is fixed: repeatable
    assert clean["top1"] == pytest.approx(together.runs[0]["test_top1"])
    assert very_noisy["top1"] < clean["top1"]
    assert noisy != clean


def test_the_noisy_test_set_does_not_depend_on_the_batch_size(two_seed_run):
    together, _ = two_seed_run
    config = smoke_config(num_runs=2)
    test = load_split(config, "test")
    by_128 = make_evaluator(config, test)(together.state, 0.3)
    by_100 = make_evaluator(smoke_config(num_runs=2, eval_batch_size=100), test)(
        together.state, 0.3
    )
    for mine, theirs in zip(by_100, by_128, strict=True):
        assert mine["top1"] == theirs["top1"] and mine["top5"] == theirs["top5"]
        assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-6)  # summed in another order


def without_timing(rows):
    return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in rows]


def test_train_noise_is_the_same_for_every_model_of_a_seed():
    # The inputs run r trains on at step s depend on its seed and s, not on the model.
    noisy = smoke_config(num_runs=2, train_noise_std=0.5)
    setups = [
        build_setup(config, make_mesh())
        for config in (noisy, smoke_config(num_runs=2, train_noise_std=0.5, act="relu"))
    ]
    clean = build_setup(smoke_config(num_runs=2), make_mesh())
    images = clean.train_data.images[:32]
    rngs = {id(setup): setup.initial_state().rng for setup in (*setups, clean)}

    def inputs(setup, run, step):
        keys = step_keys(rngs[id(setup)][run], jnp.int32(step))
        return np.asarray(setup.preprocess(keys[0], images, True))

    nish_inputs = inputs(setups[0], 1, 7)
    np.testing.assert_array_equal(nish_inputs, inputs(setups[1], 1, 7))
    assert not np.array_equal(nish_inputs, inputs(setups[0], 0, 7))
    assert not np.array_equal(nish_inputs, inputs(setups[0], 1, 8))
    pixel_noise = (nish_inputs - inputs(clean, 1, 7)) * np.asarray(clean.train_data.std)
    assert pixel_noise.mean() == pytest.approx(0.0, abs=0.01)
    assert pixel_noise.std() == pytest.approx(0.5, rel=0.02)


def test_train_noise_changes_training_and_resumes_exactly(two_seed_run, tmp_path):
    _, alone = two_seed_run
    seed3 = smoke_config(seed=3, train_noise_std=0.5)
    straight = train_and_evaluate(seed3, str(tmp_path / "straight"))
    assert straight.runs[0]["train_loss"] != alone[0].runs[0]["train_loss"]
    train_and_evaluate(smoke_config(seed=3, train_noise_std=0.5, num_epochs=1), str(tmp_path))
    assert train_and_evaluate(seed3, str(tmp_path)).runs == straight.runs
    assert without_timing(read_rows(str(tmp_path), "epochs")) == without_timing(
        read_rows(str(tmp_path / "straight"), "epochs")
    )


def test_a_cpu_is_named_by_its_generation_and_the_cpus_the_process_may_use(monkeypatch):
    """A hypervisor may call every generation "AMD EPYC": the family and model tell them apart,
    and the CPUs this process may use set XLA's thread count. Without /proc/cpuinfo or an
    affinity call, what is known is given and nothing is made up."""
    info = {"model name": "AMD EPYC", "cpu family": "25", "model": "17"}
    monkeypatch.setattr(machine, "_cpuinfo", lambda: info)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 5}, raising=False)
    assert machine.processor_name() == "AMD EPYC"
    assert cpu_details() == "family 25 model 17, 3 CPUs"
    monkeypatch.setattr(machine, "_cpuinfo", lambda: {})  # no /proc/cpuinfo: macOS, Windows
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert cpu_details() == "8 CPUs"
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert cpu_details() == "unknown CPUs"
    assert machine.processor_name()  # the architecture, from platform


def test_every_epoch_names_the_machine_that_computed_it(tmp_path):
    """A run's records say on what hardware and JAX version each epoch was computed, so that a
    result that differs in its last bits can be traced to its machine; a run resumed elsewhere
    names both machines, in the order they trained."""
    here = computed_on(jax.devices())
    assert here.startswith(f"{jax.device_count()} x ") and f"jax {jax.__version__}" in here
    if jax.default_backend() == "cpu":
        # The generation and the CPUs XLA may use: both change a computation's last bits.
        assert f"({processor_name()}, {cpu_details()})" in here and processor_name()
    first = train_and_evaluate(smoke_config(num_epochs=1), str(tmp_path))
    assert first.trained_on == [here]
    history = tmp_path / "epochs.jsonl"
    elsewhere = [
        {**row, "computed_on": "8 x TPU v9, jax 0.1"} for row in read_rows(tmp_path, "epochs")
    ]
    history.write_text("".join(json.dumps(row) + "\n" for row in elsewhere))
    resumed = train_and_evaluate(smoke_config(num_epochs=2), str(tmp_path))
    assert resumed.trained_on == ["8 x TPU v9, jax 0.1", here]
    assert [row["computed_on"] for row in read_rows(tmp_path, "epochs")] == [
        "8 x TPU v9, jax 0.1",
        here,
    ]


def test_a_diverged_run_is_recorded_and_not_retrained(tmp_path, caplog):
    config = smoke_config(learning_rate=1e6, num_epochs=1)
    with caplog.at_level(logging.WARNING):
        result = train_and_evaluate(config, str(tmp_path))
    (run,) = result.runs
    assert run["diverged"] is True and 1 <= run["diverged_step"] <= result.steps < 16
    assert all(math.isnan(run[key]) for key in METRIC_KEYS)
    (warning,) = [r.getMessage() for r in caplog.records if "diverged" in r.getMessage()]
    assert f"run 0 diverged at step {run['diverged_step']}" in warning
    assert "checkpoint" not in warning
    # The stopped state is saved: a re-run returns the same result without training again.
    checkpointer = Checkpointer(str(tmp_path / "checkpoints"), 2)
    assert checkpointer.latest_step() == result.steps
    rows = read_rows(str(tmp_path), "train_steps")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = train_and_evaluate(config, str(tmp_path))
    assert json.dumps(again.runs) == json.dumps(result.runs)
    assert again.steps == result.steps
    assert read_rows(str(tmp_path), "train_steps") == rows
    assert not [r for r in caplog.records if "diverged at step" in r.getMessage()]


def test_a_diverging_run_does_not_stop_the_other_runs_of_its_program(two_seed_run, tmp_path):
    together, _ = two_seed_run
    # Train the two runs one epoch, then poison run 1's parameters in the saved state: from
    # step 17 on its loss is NaN, while run 0 trains on as if nothing happened.
    train_and_evaluate(smoke_config(num_runs=2, seed=3, num_epochs=1), str(tmp_path))
    directory = str(tmp_path / "checkpoints")
    setup = build_setup(smoke_config(num_runs=2, seed=3), make_mesh())
    state = Checkpointer(directory, 2).restore(setup.initial_state())
    poisoned = jax.tree_util.tree_map(lambda x: x.at[1].set(jnp.nan), state.params)
    shutil.rmtree(os.path.join(directory, "16"))
    Checkpointer(directory, 2).save(state.replace(params=poisoned))

    result = train_and_evaluate(smoke_config(num_runs=2, seed=3), str(tmp_path))
    healthy, diverged = result.runs
    assert (healthy["diverged"], healthy["diverged_step"]) == (False, None)
    assert (diverged["diverged"], diverged["diverged_step"]) == (True, 17)
    assert all(math.isnan(diverged[key]) for key in METRIC_KEYS)
    assert healthy == together.runs[0]
    assert result.steps == 32
    last_epoch = [row for row in read_rows(str(tmp_path), "epochs") if row["epoch"] == 2]
    assert [row["diverged"] for row in last_epoch] == [False, True]
    assert math.isnan(last_epoch[1]["test_top1"]) and not math.isnan(last_epoch[0]["test_top1"])


def test_progress_bars_write_plain_lines_when_not_on_a_terminal(capsys):
    bar = progress_bar(total=3, desc="epoch 1", leave=False)
    for _ in range(3):
        bar.set_postfix(loss="0.5", refresh=False)
        bar.update(1)
    bar.close()
    output = capsys.readouterr().err
    assert "\r" not in output and "\x1b" not in output
    lines = output.splitlines()
    assert lines[0].startswith("epoch 1: 0/3") and lines[-1].startswith("epoch 1: 3/3")
    assert "loss=0.5" in lines[-1]
