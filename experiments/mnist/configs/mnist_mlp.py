"""One run of the depth-sweep MLP on MNIST, trained as the Mish study's Keras notebook trains it.

    python -m experiments.train --config experiments/mnist/configs/mnist_mlp.py \
        --workdir runs/mnist_mlp \
        --config.act=nish --config.model_options.depth=15

Dense(500) -> BatchNorm (Keras defaults: momentum 0.99, epsilon 1e-3) -> act -> Dropout(0.25)
blocks, Keras' default SGD (learning rate 0.01, no momentum, constant), batch 128, 10 epochs (see
experiments/mnist/configs/depth_sweep.py for what the notebook does and where we differ).
``--config experiments/mnist/configs/mnist_mlp.py:smoke`` is a seconds-long run on 512 real images
(the
engine's tests use it).
"""

from ml_collections import ConfigDict

from nish_jax.train import get_config_defaults

VARIANTS = ("", "smoke")


def get_config(variant: str = "") -> ConfigDict:
    """The full run, or ``variant="smoke"`` for a tiny real-data run."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown mnist_mlp variant {variant!r}; valid: '' (full), smoke")
    config = get_config_defaults()
    config.dataset = "mnist"
    config.model = "mlp"
    config.act = "nish"
    config.model_options = ConfigDict(
        dict(depth=15, width=500, dropout=0.25, bn_momentum=0.99, bn_epsilon=1e-3)
    )
    config.batch_size = 128
    config.eval_batch_size = 500
    config.num_epochs = 10
    config.optimizer = "sgd"
    config.learning_rate = 0.01
    config.momentum = 0.0
    config.schedule = "constant"
    config.num_runs = 1
    config.checkpoint_every_steps = 200
    config.log_every_steps = 50
    if variant == "smoke":
        config.train_subset = 512
        config.test_subset = 300  # not a multiple of the eval batch: the last batch is partial
        config.model_options.update(dict(depth=2, width=64))
        config.batch_size = 32
        config.eval_batch_size = 128
        config.num_epochs = 2
        config.learning_rate = 0.05
        config.momentum = 0.9
        config.checkpoint_every_steps = 5
        config.log_every_steps = 4
    return config
