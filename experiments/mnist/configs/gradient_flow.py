"""Gradient flow: per-example, per-layer gradient norms and zero-gradient units of the depth-sweep
MLP at initialisation and after training.

    python -m experiments gradient_flow --config=full

The networks and their training are the depth sweep's
(experiments/mnist/configs/depth_sweep.py, same
variant), so with the same ``output_root`` the trained runs are shared with it, not trained again
(run directories are keyed by the training config). Each measured program leaves a record of its
measurement and final metrics in ``<output_root>/finished/``, which the depth sweep reads too: for
the ``full`` variant, run this experiment first (it trains the sweep's 60 programs at the primary
depths, in the sweep's order, measuring each while its trained state is at hand), then the depth
sweep, which trains only its learning-rate controls. A program whose depth-sweep record exists but
whose run directory is gone (trained in another session) is trained again to be measured; a
warning names it if it ends unlike its record. ``num_examples`` real MNIST test images
(class-balanced) are the probe batch. Variants follow the depth sweep's: ``full`` (the primary
depths 20 and 25, all six activations of the full sweep), ``origin``, ``ours``, ``quick`` (depths
2 and 20) and ``smoke`` (seconds, for the tests). Everything here is exploratory.
"""

from ml_collections import ConfigDict

from experiments.mnist.configs import depth_sweep

VARIANTS = depth_sweep.VARIANTS


def get_config(variant: str = "quick") -> ConfigDict:
    if variant not in VARIANTS:
        raise ValueError(f"unknown gradient_flow variant {variant!r}; valid: {', '.join(VARIANTS)}")
    sweep = depth_sweep.get_config(variant)
    config = ConfigDict()
    config.name = variant
    config.output_root = sweep.output_root
    config.activations = tuple(dict.fromkeys([*sweep.activations, *sweep.control_activations]))
    config.depths = sweep.primary_depths
    config.vmap_seeds = sweep.vmap_seeds
    config.num_examples = 256  # probe images (eval mode)
    config.train_mode_examples = 64  # of them in train mode, whose cost grows with its square
    config.dropout_seed = 0  # the dropout key of the train-mode measurement
    config.train = sweep.train
    if variant == "quick":
        config.depths = (2, 20)
        config.num_examples = 128
        config.train_mode_examples = 32
    elif variant == "smoke":
        config.activations = sweep.activations
        config.depths = sweep.depths
        config.num_examples = 32
        config.train_mode_examples = 16
    return config
