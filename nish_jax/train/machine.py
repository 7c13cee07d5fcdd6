"""What a result was computed on, in words: the processor, the devices and the JAX version.

Records name it (``trained_on``) so that a result can be traced to its machine. On CPUs that
includes what sets the last bits of a computation beside the code: the CPU generation (family
and model; a hypervisor may name every generation "AMD EPYC") and how many CPUs the process may
use (XLA splits its work over that many threads, and the split changes the rounding).
"""

from __future__ import annotations

import functools
import os
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


@functools.cache
def cpu_details() -> str:
    """The CPU's family and model, where the OS gives them, and the CPUs this process may use:
    ``"family 25 model 17, 2 CPUs"``."""
    found: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                name, _, value = line.partition(":")
                if name.strip() in ("cpu family", "model"):
                    found.setdefault(name.strip(), value.strip())
                elif not line.strip():
                    break  # the first processor's block is enough
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    generation = (
        [f"family {found['cpu family']} model {found['model']}"]
        if {"cpu family", "model"} <= found.keys()
        else []
    )
    return ", ".join([*generation, f"{usable} CPUs"])


def describe_devices(devices: Sequence[jax.Device]) -> str:
    """What computes on ``devices``, as a run's records name it: ``"1 x NVIDIA H200"``, or for
    the host's CPU, whose device kind is only "cpu", ``"1 x cpu (AMD EPYC, family 25 model 17,
    2 CPUs)"`` (:func:`cpu_details`)."""
    kinds = sorted({device.device_kind for device in devices})
    text = f"{len(devices)} x {' + '.join(kinds)}"
    return f"{text} ({processor_name()}, {cpu_details()})" if kinds == ["cpu"] else text


# What a record says where it cannot name the machine (it was made before records named it).
NOT_RECORDED = "machine not recorded"


def computed_on(devices: Sequence[jax.Device]) -> str:
    """The hardware and JAX version a result computed on ``devices`` names (each epoch row of a
    run directory, each run of the CIFAR-10 study): ``"1 x NVIDIA H200, jax 0.10.2"``."""
    return f"{describe_devices(devices)}, jax {jax.__version__}"
