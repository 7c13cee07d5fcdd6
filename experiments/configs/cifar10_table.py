"""The paper's Table 1: five networks on CIFAR-10 with Mish and with Nish, Adam, 50/100/150 epochs.

    python -m experiments.cifar10_table --config experiments/configs/cifar10_table.py:paper
    python -m experiments.cifar10_table --config experiments/configs/cifar10_table.py:quick

Variants: ``paper`` (the paper's protocol: all five networks, 10 runs per cell vmapped in one
program, the batch sharded over every device; meant for accelerators), ``quick`` (2 CPU cores,
a few minutes on real data: the two cheapest networks on a class-balanced subset, 3 runs, epochs
1/2/3), ``smoke`` (seconds; the test's). Any key can be overridden on the command line, e.g.
``--config.train.num_runs=5`` or ``--config.models='("resnet18",)'``.

From the paper: the networks, Mish against Nish, Adam, 50/100/150 epochs, 10 runs, mean accuracy,
mean loss and standard deviation of the accuracy. Our assumptions where the paper's text was not
available offline (see experiments/paper_results.py): SqueezeNet 1.1, the networks exactly as
timm/torchvision define them (ImageNet stems) on 32x32 images, Adam's default learning rate 1e-3
kept constant, batch 128, random crop (padding 4) and horizontal flip.
"""

from ml_collections import ConfigDict

from experiments.paper_results import ACTIVATIONS, CIFAR10_EPOCHS, CIFAR10_MODELS
from nish_jax.train import get_config_defaults

VARIANTS = ("paper", "quick", "smoke")


def get_config(variant: str = "paper") -> ConfigDict:
    """The ``paper`` protocol or its reduced ``quick`` / ``smoke`` variants (module doc)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown cifar10_table variant {variant!r}; valid: {', '.join(VARIANTS)}")
    config = ConfigDict()
    config.name = variant  # results/cifar10_table/<name>/ and the label of every output
    config.results_root = "results"
    config.models = CIFAR10_MODELS
    config.activations = ACTIVATIONS
    # The table's epoch columns. With a constant learning rate the first E epochs of the longest
    # run are exactly an E-epoch run of the same seed, so one run is evaluated at each of them;
    # any other schedule trains a separate run per column.
    config.epochs = CIFAR10_EPOCHS
    # Per-network create_model options: resnet18 as timm defines it (ImageNet stem) like the
    # other four; ``--config.model_options.resnet18.stem=cifar`` gives the 3x3 CIFAR stem.
    config.model_options = ConfigDict({"resnet18": {"stem": "imagenet"}})

    train = get_config_defaults()
    train.dataset = "cifar10"
    train.batch_size = 128
    train.eval_batch_size = 500
    train.optimizer = "adam"
    train.learning_rate = 1e-3
    train.schedule = "constant"
    train.augmentation.crop_padding = 4
    train.augmentation.hflip = True
    train.num_runs = 10
    train.checkpoint_every_steps = 1000
    train.keep_checkpoints = 1  # a checkpoint holds every run: keep the disk use down
    train.log_every_steps = 100
    config.train = train

    if variant == "quick":
        config.models = ("squeezenet1_1", "resnet18")
        config.epochs = (1, 2, 3)
        train.num_runs = 3
        train.train_subset = 1024
        train.test_subset = 1000
        train.batch_size = 64
        train.checkpoint_every_steps = 0
        train.log_every_steps = 8
    elif variant == "smoke":
        config.models = ("squeezenet1_1",)
        config.epochs = (1, 2)
        train.num_runs = 2
        train.train_subset = 256
        train.test_subset = 200
        train.batch_size = 64
        train.eval_batch_size = 100
        train.checkpoint_every_steps = 0
        train.log_every_steps = 2
    return config
