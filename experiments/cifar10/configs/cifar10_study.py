"""A powered CIFAR-10 study: the activations on the airbench94 recipe, many paired seeds each.

    python -m experiments cifar10_study --config=gpu
    python -m experiments cifar10_study --config=cpu
    python -m experiments cifar10_study --config=smoke

Variants:

- ``gpu``: the full recipe (``recipe``: airbench94's widths 64/256/256, batch 1024, 9.9 epochs,
  94.01% with GELU on the official data) with relu, silu, gelu, mish and nish, 20 paired seeds
  each (100 runs), bfloat16 compute. Meant for one accelerator: about 8 minutes on one H200 is
  the target (``python -m benchmarks.study --gpu`` times it).
- ``cpu``: what 2 shared CPU cores finish in under 3 hours: 4 activations x 5 seeds, the widths
  quartered (16/64/64: about 1/12 of the compute per image) and 2 epochs instead of 9.9 (96
  steps; the whitening bias trains for the first epoch and the lookahead starts in the second,
  near the original's fractions of the run). Run and committed (docs/results/cifar10_study/cpu,
  2026-12-01, 2 AMD EPYC cores shared with other work): 20 runs in 2 h 25 min of wall time
  (8,233 s of training, 360-480 s per run), TTA accuracies 64.9-71.8%; the spread of the paired
  differences puts the smallest detectable Nish - Mish gap at 2.5 points, so this variant is a
  test of the protocol and a coarse look, not the answer (the gpu variant is).
- ``smoke``: seconds, for the tests: Mish and Nish x 2 seeds on 2048 training and 500 test images
  (class-balanced subsets of the real data), widths 8/16/16, batch 256, 2 epochs.

Seed s gives every activation the same initial weights, data order, crops and flips, so the
activations are compared pair by pair (``experiments.core.stats.compare_activations``).
"""

from ml_collections import ConfigDict

VARIANTS = ("gpu", "cpu", "smoke")
# airbench94's network widths and hyperparameters, the recipe every variant starts from.
AIRBENCH94 = dict(
    widths=(64, 256, 256),
    batch_size=1024,
    train_epochs=9.9,
    lr=11.5,  # per 1024 examples (see experiments/cifar10/airbench_recipe.py)
    momentum=0.85,  # Nesterov
    weight_decay=0.0153,  # per 1024 examples
    bias_scaler=64.0,  # BatchNorm biases' learning rate multiplier (not their decay's)
    label_smoothing=0.2,
    lr_start=0.2,  # the schedule's factors: start, peak (at lr_peak_fraction), end
    lr_peak_fraction=0.23,
    lr_end=0.07,
    whiten_bias_epochs=3,
    lookahead_start_epoch=3,
    lookahead_decay=0.95,
    lookahead_power=3.0,
    lookahead_every=5,
    translate=2,  # crop shift range (pixels of reflect padding)
    whitening_images=5000,  # training images whose patches define the whitening kernel
    whitening_eps=5e-4,
)


def get_config(variant: str = "gpu") -> ConfigDict:
    """The ``gpu`` study or its reduced ``cpu`` / ``smoke`` variants (module doc)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown cifar10_study variant {variant!r}; valid: {', '.join(VARIANTS)}")
    config = ConfigDict()
    config.name = variant  # results/cifar10_study/<name>/ and the label of every output
    config.output_root = "results"
    config.activations = ("relu", "silu", "gelu", "mish", "nish")
    config.num_seeds = 20  # seeds seed, seed + 1, ...: the same ones for every activation
    config.seed = 0
    # How many seeds train side by side in one vmapped program (1: one after another; on a CPU
    # a vmapped convolution becomes a slower grouped one). Must divide num_seeds.
    config.seeds_per_program = 1
    config.compute_dtype = "bfloat16"  # parameters stay float32
    config.train_subset = 0  # 0: all 50,000 training images, else a class-balanced subset
    config.test_subset = 0  # 0: all 10,000 test images
    config.spread = "std"  # what "±" means in the table: "std" or "ci" (experiments.core.report)
    config.primary = "final test accuracy with test-time augmentation (test_top1_percent)"
    config.recipe = ConfigDict(AIRBENCH94)

    if variant == "cpu":
        config.activations = ("relu", "silu", "mish", "nish")
        config.num_seeds = 5
        config.compute_dtype = "float32"
        config.recipe.widths = (16, 64, 64)
        config.recipe.train_epochs = 2.0
        config.recipe.whiten_bias_epochs = 1  # the phases at about the original's fractions
        config.recipe.lookahead_start_epoch = 1
    elif variant == "smoke":
        config.activations = ("mish", "nish")
        config.num_seeds = 2
        config.compute_dtype = "float32"
        config.train_subset = 2048
        config.test_subset = 500
        config.recipe.widths = (8, 16, 16)
        config.recipe.batch_size = 256
        config.recipe.train_epochs = 2.0
        config.recipe.whiten_bias_epochs = 1
        config.recipe.lookahead_start_epoch = 1
    return config
