"""Fig. 2b and 2c: test loss of 5- and 10-layer CNNs on MNIST against Gaussian input noise.

    python -m experiments noise_robustness --config=full
    python -m experiments noise_robustness --config=quick

The paper: MNIST inputs degraded by additive zero-mean Gaussian noise of linearly increasing
standard deviation; test loss of a 5-layer (2b) and a 10-layer (2c) CNN trained with SGD. It
follows the Mish study, whose README says only that noise "was added to the input in case of MNIST
classification using a simple conv net"; its notebook is not in the public repository, so neither
the protocol nor the range of standard deviations can be checked. Two protocols (``protocol``):

- ``noisy_training`` (primary): at each noise level a network is trained and tested on inputs with
  that noise (the same noise level for both). The Mish figures keep a high accuracy at large noise
  levels, which a clean-trained network does not; this is why it is the primary one.
- ``clean_training``: networks trained on clean images, the same weights tested at every level.

Noise is on the [0, 1] pixel scale, before standardisation; run r of every activation sees the
same noise (it is drawn from the run's seed and the step). Variants:

- ``full``: the full-scale run for two CPU cores (resumable): all 60,000 training and 10,000 test
  images, Keras' default SGD (learning rate 0.01, no momentum; the paper says SGD, the Mish study
  used Keras' default), batch 128, 5 paired seeds, noise standard deviations 0, 0.5 and 1.0.
  Cut, and why: the CNN is 8 channels wide (doubling per stage), trains 2 epochs and sees 3 noise
  levels, so that 4 activations x 2 depths x 3 levels x 5 seeds (120 runs) fit in about 2 hours on
  two quiet cores (measured 2026-11-28: about 20 s and 40 s per epoch for 5 and 10 layers). On
  2026-12-01 two shared cores took about 40 s per 5-layer epoch (AMD EPYC) and, on another
  machine, 27 s and 50 s per 5- and 10-layer epoch (Intel Xeon): about 5 and 10 minutes per
  point of 5 seeds, about 3 hours in all, a run done in parts. The last 12 10-layer runs took 29
  minutes on 2026-12-02 (AMD EPYC, about 70 s per epoch).
- ``paper``: 32 channels, 10 epochs, levels 0, 0.25, ..., 1.0 (meant for accelerators).
- ``quick`` (a few minutes on two CPU cores: clean training, 3,072 training images, 1 epoch, 2
  seeds, 11 levels) and ``smoke`` (seconds, for the tests).

Primary endpoint: the test loss averaged over the noise levels, per depth (5 and 10 layers), Nish
against each other activation, paired by seed. Per-level cells are exploratory.
"""

from ml_collections import ConfigDict

from nish_jax.train import get_config_defaults

VARIANTS = ("full", "paper", "quick", "smoke")


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
    config.protocol = "noisy_training"
    config.noise_levels = (0.0, 0.5, 1.0)
    # The primary endpoint: "level_average" (the test loss averaged over the levels) or
    # "robustness" (its rise from clean inputs to the noisy levels); the primary family: Nish
    # against these activations at these depths (every other comparison is exploratory).
    config.endpoint = "level_average"
    config.primary = ConfigDict(
        {"depth5": ("relu", "silu", "mish"), "depth10": ("relu", "silu", "mish")}
    )
    # Paired seeds per depth and activation where they differ from train.num_runs, e.g.
    # {"depth10": {"nish": 40}}: seeds train.seed, train.seed + 1, ...
    config.runs_per_cell = ConfigDict()
    config.spread = "std"  # the band of the figure and the "±" of the table: "std" or "ci"
    config.vmap_seeds = False  # one program per seed (CPUs); True: all seeds at once
    train = get_config_defaults()
    train.dataset = "mnist"
    train.model = "cnn"
    train.model_options = ConfigDict(dict(depth=5, width=8))
    train.batch_size = 128
    train.eval_batch_size = 500
    train.num_epochs = 2
    train.optimizer = "sgd"
    train.learning_rate = 0.01
    train.momentum = 0.0
    train.num_runs = 5  # paired seeds
    train.checkpoint_every_steps = 0  # checkpoint at the end of each epoch
    if variant == "paper":
        config.noise_levels = (0.0, 0.25, 0.5, 0.75, 1.0)
        train.model_options.width = 32
        train.num_epochs = 10
    elif variant == "quick":
        config.protocol = "clean_training"
        config.noise_levels = tuple(round(0.1 * i, 1) for i in range(11))
        train.train_subset = 3072
        train.test_subset = 500
        train.batch_size = 32  # more updates for the same compute
        train.learning_rate = 0.05
        train.momentum = 0.9
        train.num_epochs = 1
        train.num_runs = 2
        train.log_every_steps = 16
    elif variant == "smoke":
        config.activations = ("relu", "nish")
        config.depths = (1, 2)
        config.primary = ConfigDict({"depth1": ("relu",), "depth2": ("relu",)})
        config.noise_levels = (0.0, 1.0)
        train.train_subset = 256
        train.test_subset = 200
        train.model_options.width = 4
        train.batch_size = 32
        train.eval_batch_size = 100
        train.learning_rate = 0.05
        train.num_epochs = 1
        train.num_runs = 2
        train.log_every_steps = 4
    config.train = train
    return config
