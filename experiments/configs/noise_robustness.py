"""Fig. 2b and 2c: test loss of 5- and 10-layer CNNs on MNIST against Gaussian input noise.

    python -m experiments.noise_robustness --config experiments/configs/noise_robustness.py:quick

Every network is trained on clean images, then the same trained weights are tested with additive
zero-mean Gaussian noise of standard deviation 0, 0.05, ..., 1.0 (on the [0, 1] pixel scale; the
same noise draw for every activation). Variants: ``paper`` (the full protocol, meant for
accelerators: the whole of MNIST, 10 epochs, 5 seeds; the paper does not state the optimiser and
epochs, ours are SGD with momentum 0.9 at 0.05, batch 128), ``quick`` (a few minutes on two CPU
cores: 3072 training and 500 test images, 8 channels instead of 32, 1 epoch in batches of 32, 2
seeds trained one after the other, 11 noise levels) and ``smoke`` (seconds, for the tests).
``config.train`` is the training engine's config.
"""

from ml_collections import ConfigDict

from nish_jax.train import get_config_defaults

VARIANTS = ("paper", "quick", "smoke")


def get_config(variant: str = "quick") -> ConfigDict:
    if variant not in VARIANTS:
        raise ValueError(
            f"unknown noise_robustness variant {variant!r}; valid: {', '.join(VARIANTS)}"
        )
    config = ConfigDict()
    config.name = variant  # the results directory and the label of every output
    config.output_root = "results"
    config.activations = ("relu", "silu", "mish", "nish")
    config.depths = (5, 10)  # Fig. 2b and Fig. 2c
    config.noise_levels = tuple(round(0.05 * i, 2) for i in range(21))
    config.spread = "ci"  # the band of the figure: "ci" (95% Student t) or "std"
    # False: the seeds train at once (vmapped, for accelerators); True: one single-run program per
    # seed, one after the other. On CPUs XLA runs a vmapped convolution as a grouped one (~3x
    # slower per run), and the engine's runs_vectorized=False (lax.map) measured 2.3x slower than
    # separate programs on the quick config.
    config.sequential_seeds = False
    train = get_config_defaults()
    train.dataset = "mnist"
    train.model = "cnn"
    train.model_options = ConfigDict(dict(depth=5, width=32))
    train.batch_size = 128
    train.eval_batch_size = 500
    train.num_epochs = 10
    train.optimizer = "sgd"
    train.learning_rate = 0.05
    train.momentum = 0.9
    train.num_runs = 5  # seeds, trained at once (vmapped)
    train.checkpoint_every_steps = 0  # checkpoint at the end of each epoch
    if variant == "quick":
        config.noise_levels = tuple(round(0.1 * i, 1) for i in range(11))
        config.spread = "std"  # a 2-seed 95% CI is 12.7 standard errors wide
        config.sequential_seeds = True
        train.train_subset = 3072
        train.test_subset = 500
        train.model_options.width = 8
        train.batch_size = 32  # more updates for the same compute
        train.num_epochs = 1
        train.num_runs = 2
        train.log_every_steps = 16
    elif variant == "smoke":
        config.activations = ("relu", "nish")
        config.depths = (1, 2)
        config.noise_levels = (0.0, 0.5, 1.0)
        config.sequential_seeds = True
        train.train_subset = 256
        train.test_subset = 200
        train.model_options.width = 4
        train.batch_size = 32
        train.eval_batch_size = 100
        train.num_epochs = 1
        train.num_runs = 2
        train.log_every_steps = 4
    config.train = train
    return config
