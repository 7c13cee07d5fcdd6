"""The Mish study's MNIST depth sweep: a Dense-BatchNorm-act-Dropout MLP trained with SGD.

    python -m experiments.train --config experiments/configs/mnist_mlp.py --workdir runs/mnist_mlp \
        --config.act=nish --config.model_options.depth=15

``--config experiments/configs/mnist_mlp.py:smoke`` gives a seconds-long smoke test (512 training
images, depth 2, width 64, 2 epochs), the one the engine's tests run.
"""

from ml_collections import ConfigDict

from nish_jax.train import get_config_defaults


def get_config(variant: str = "") -> ConfigDict:
    """The full study's config, or ``variant="smoke"`` for a tiny real-data run."""
    if variant not in ("", "smoke"):
        raise ValueError(f"unknown mnist_mlp variant {variant!r}; valid: '' (full), smoke")
    config = get_config_defaults()
    config.dataset = "mnist"
    config.model = "mlp"
    config.act = "nish"
    config.model_options = ConfigDict(dict(depth=15, width=500, dropout=0.25))
    config.batch_size = 128
    config.eval_batch_size = 500
    config.num_epochs = 10
    config.optimizer = "sgd"
    config.learning_rate = 0.01
    config.momentum = 0.9
    config.schedule = "constant"
    config.num_runs = 1
    config.checkpoint_every_steps = 200
    config.log_every_steps = 50
    if variant == "smoke":
        config.train_subset = 512
        config.test_subset = 300  # not a multiple of the eval batch: the last batch is partial
        config.model_options = ConfigDict(dict(depth=2, width=64, dropout=0.25))
        config.batch_size = 32
        config.eval_batch_size = 128
        config.num_epochs = 2
        config.learning_rate = 0.05
        config.checkpoint_every_steps = 5
        config.log_every_steps = 4
    return config
