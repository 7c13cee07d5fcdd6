"""Fig. 2a, the MNIST depth sweep: test accuracy of the ``mlp`` against its depth, per activation.

    python -m experiments.depth_sweep --config experiments/configs/depth_sweep.py:quick
    python -m experiments.depth_sweep --config experiments/configs/depth_sweep.py:paper \
        --config.train.num_runs=10

Variants: ``paper`` (the full protocol, meant for accelerators: depths 1 to 30, Dense(500) ->
BatchNorm -> act -> Dropout(0.25), SGD with momentum, batch 128, the whole of MNIST; the number of
epochs and seeds is our choice, the paper does not state them), ``quick`` (a few minutes on two CPU
cores: 4096 training and 2000 test images, width 256, 2 epochs at a 5x larger learning rate,
3 depths, 2 seeds) and ``smoke``
(seconds, for the tests). ``config.train`` is the training engine's config (nish_jax.train); its
``act`` and ``model_options.depth`` are set per point of the sweep.
"""

from ml_collections import ConfigDict

from experiments.configs import mnist_mlp

VARIANTS = ("paper", "quick", "smoke")


def get_config(variant: str = "quick") -> ConfigDict:
    if variant not in VARIANTS:
        raise ValueError(f"unknown depth_sweep variant {variant!r}; valid: {', '.join(VARIANTS)}")
    config = ConfigDict()
    config.name = variant  # the results directory and the label of every output
    config.output_root = "results"
    config.activations = ("relu", "silu", "mish", "nish")
    config.spread = "ci"  # the band of the figure: "ci" (95% Student t) or "std"
    train = mnist_mlp.get_config()  # Dense(500)-BN-act-Dropout(0.25), SGD 0.01 momentum 0.9
    train.num_epochs = 10
    train.num_runs = 5  # seeds, trained at once (vmapped)
    train.checkpoint_every_steps = 0  # checkpoint at the end of each epoch
    config.depths = tuple(range(1, 31))
    if variant == "quick":
        config.depths = (2, 10, 20)
        train.train_subset = 4096
        train.test_subset = 2000
        train.model_options.width = 256
        train.num_epochs = 2
        train.num_runs = 2
        train.learning_rate = 0.05  # 5x the paper's rate: 1/15 of its steps (2 short epochs)
        train.log_every_steps = 8
        config.spread = "std"  # a 2-seed 95% CI is 12.7 standard errors wide
    elif variant == "smoke":
        config.activations = ("relu", "nish")
        config.depths = (1, 3)
        train.train_subset = 256
        train.test_subset = 200
        train.model_options.width = 32
        train.batch_size = 32
        train.eval_batch_size = 100
        train.num_epochs = 1
        train.num_runs = 2
        train.log_every_steps = 4
    config.train = train
    return config
