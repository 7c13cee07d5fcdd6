"""The training engine in-process on a small real MNIST subset: config checks, multi-seed runs,
exact evaluation, noise evaluation and the non-finite-loss stop."""

import os

import jax
import numpy as np
import optax
import pytest

from experiments.configs.mnist_mlp import get_config
from nish_jax.train import (
    Checkpointer,
    NonFiniteLossError,
    make_evaluator,
    read_rows,
    train_and_evaluate,
    validate_config,
)
from nish_jax.train.components import build_model, build_preprocess, load_split
from nish_jax.train.optim import learning_rate_schedule, make_optimizer


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
        for key, value in single["runs"][0].items():
            assert together["runs"][run][key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
        mine = jax.tree_util.tree_map(lambda x, r=run: np.asarray(x[r]), together["state"].params)
        theirs = jax.tree_util.tree_map(lambda x: np.asarray(x[0]), single["state"].params)
        assert_close_trees(mine, theirs)
    assert together["runs"][0]["test_top1"] != together["runs"][1]["test_top1"]
    assert together["runs"][0]["test_top1"] > 0.6  # 2 epochs on 512 digits learn something


def test_runs_looped_in_the_program_equal_vmapped_runs(two_seed_run, tmp_path):
    together, _ = two_seed_run
    config = smoke_config(num_runs=2, seed=3, runs_vectorized=False)
    looped = train_and_evaluate(config, str(tmp_path))
    for mine, theirs in zip(looped["runs"], together["runs"], strict=True):
        assert mine == pytest.approx(theirs, rel=1e-4, abs=1e-5)
    assert_close_trees(looped["state"].params, together["state"].params)


def test_run_directory_holds_config_metrics_and_checkpoints(two_seed_run):
    together, _ = two_seed_run
    workdir = together["workdir"]
    assert os.path.exists(os.path.join(workdir, "config.json"))
    for stream in ("train_steps", "epochs"):
        assert os.path.exists(os.path.join(workdir, f"{stream}.csv"))
    steps = [(row["step"], row["run"]) for row in read_rows(workdir, "train_steps")]
    assert steps == [(s, r) for s in range(4, 33, 4) for r in (0, 1)]
    epochs = read_rows(workdir, "epochs")
    assert [(row["epoch"], row["run"]) for row in epochs] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert Checkpointer(os.path.join(workdir, "checkpoints"), 2).all_steps() == [30, 32]


def test_evaluation_counts_every_test_example_exactly(two_seed_run):
    together, _ = two_seed_run
    config = smoke_config(num_runs=2)
    test = load_split(config, "test")
    assert test.num_examples % config.eval_batch_size  # the last batch is partial
    metrics = make_evaluator(config, test)(together["state"])
    model, preprocess = build_model(config, 10), build_preprocess(config, test)
    inputs = preprocess(jax.random.PRNGKey(0), test.images, False)
    for run in range(2):
        variables = jax.tree_util.tree_map(
            lambda x, r=run: x[r],
            {"params": together["state"].params, "batch_stats": together["state"].batch_stats},
        )
        logits = np.asarray(model.apply(variables, inputs, train=False))
        top1 = np.mean(logits.argmax(-1) == test.labels)
        top5 = np.mean((np.argsort(-logits, -1)[:, :5] == test.labels[:, None]).any(-1))
        assert metrics[run]["top1"] == pytest.approx(top1, abs=1e-6)
        assert metrics[run]["top5"] == pytest.approx(top5, abs=1e-6)
        assert metrics[run]["top1"] == pytest.approx(together["runs"][run]["test_top1"])


def test_one_evaluator_measures_several_noise_levels(two_seed_run):
    together, _ = two_seed_run
    config = smoke_config(num_runs=2)
    evaluator = make_evaluator(config, load_split(config, "test"))
    clean, noisy, very_noisy = (evaluator(together["state"], s)[0] for s in (0.0, 0.3, 3.0))
    assert evaluator(together["state"], 0.3)[0] == noisy  # the noise is fixed: repeatable
    assert clean["top1"] == pytest.approx(together["runs"][0]["test_top1"])
    assert very_noisy["top1"] < clean["top1"]
    assert noisy != clean


def test_non_finite_loss_stops_with_the_step_and_keeps_a_good_checkpoint(tmp_path):
    config = smoke_config(learning_rate=1e6, checkpoint_every_steps=1, num_epochs=1)
    with pytest.raises(NonFiniteLossError, match=r"at step \d+") as error:
        train_and_evaluate(config, str(tmp_path))
    checkpointer = Checkpointer(str(tmp_path / "checkpoints"), 2)
    steps = checkpointer.all_steps()
    assert steps and max(steps) < error.value.step
    restored = checkpointer.restore()
    assert all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(restored["params"]))
