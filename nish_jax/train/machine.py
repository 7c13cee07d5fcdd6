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
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (Linux); empty where there is none."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if not line.strip():
                    break  # the end of the first processor's block
                name, _, value = line.partition(":")
                fields[name.strip()] = value.strip()
    except OSError:
        pass
    return fields


def processor_name() -> str:
    """This host's CPU model as the OS names it (Linux: /proc/cpuinfo), else the architecture."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_details() -> str:
    """The CPU's family and model, where the OS gives them, and the CPUs this process may use:
    ``"family 25 model 17, 2 CPUs"``."""
    info = _cpuinfo()
    generation = (
        [f"family {info['cpu family']} model {info['model']}"]
        if "cpu family" in info and "model" in info
        else []
    )
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return ", ".join([*generation, f"{usable or 'unknown'} CPUs"])


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
