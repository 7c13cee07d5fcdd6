"""Gradient flow: per-example, per-layer gradient norms and zero-gradient units of the depth-sweep
MLP at initialisation and after training.

    python -m experiments.gradient_flow --config experiments/configs/gradient_flow.py:quick

The networks and training are the depth sweep's (experiments/configs/depth_sweep.py, same
variant); ``num_examples`` real MNIST test images (class-balanced) are the probe batch. Variants:
``paper`` (depths 5, 15 and 30, the depth sweep's full training), ``quick`` (depths 5 and 20, the
depth sweep's quick training) and ``smoke`` (seconds, for the tests).
"""

from ml_collections import ConfigDict

from experiments.configs import depth_sweep

VARIANTS = depth_sweep.VARIANTS


def get_config(variant: str = "quick") -> ConfigDict:
    if variant not in VARIANTS:
        raise ValueError(f"unknown gradient_flow variant {variant!r}; valid: {', '.join(VARIANTS)}")
    config = depth_sweep.get_config(variant)
    del config["spread"]
    config.num_examples = 256
    if variant == "paper":
        config.depths = (5, 15, 30)
    elif variant == "quick":
        config.depths = (5, 20)
        config.num_examples = 128
    else:
        config.depths = (1, 3)
        config.num_examples = 32
    return config
