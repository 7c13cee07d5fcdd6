"""What a result was computed on, in words: the processor, the devices and the JAX version.

Records name it (``trained_on``) so that a result can be traced to its machine.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Sequence

import jax


@functools.cache
def processor_name() -> str:
    """This host's CPU model as the OS names it (Linux: /proc/cpuinfo), else the architecture."""
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_devices(devices: Sequence[jax.Device]) -> str:
    """What computes on ``devices``, as a run's records name it: ``"1 x NVIDIA H200"``, or for
    the host's CPU, whose device kind is only "cpu", ``"1 x cpu (AMD EPYC)"``."""
    kinds = sorted({device.device_kind for device in devices})
    text = f"{len(devices)} x {' + '.join(kinds)}"
    return f"{text} ({processor_name()})" if kinds == ["cpu"] else text


# What a record says where it cannot name the machine (it was made before records named it).
NOT_RECORDED = "machine not recorded"


def computed_on(devices: Sequence[jax.Device]) -> str:
    """The hardware and JAX version a result computed on ``devices`` names (each epoch row of a
    run directory, each run of the CIFAR-10 study): ``"1 x NVIDIA H200, jax 0.10.2"``."""
    return f"{describe_devices(devices)}, jax {jax.__version__}"
