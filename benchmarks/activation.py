"""Benchmark: Nish against the built-in activations, side by side in one run.

    python -m benchmarks.activation            # 16M float32 elements, the documented run
    python -m benchmarks.activation --quick    # 1M elements, a smoke run

Prints, for relu, silu, gelu, mish, nish, nish on its other float32 sine path (``jnp.sin`` and
``jnp.cos`` inside the same custom_jvp, :func:`nish_jax.nish_with_sine`) and the naive
``where(x >= 0, x, sigmoid(x)*(x+sin x))`` for reference: the forward pass, the gradient of the
sum and forward+backward through ``jax.vjp``, each as a median time over interleaved repeats and as
a ratio to ``jax.nn.silu``; the compiled temporary memory of the training step of a 16-layer MLP
with each activation; which sine path is faster on this backend; and the time of one eager call
(no ``jax.jit`` around it) of ``nish`` and ``jax.nn.mish`` on 1,000 elements, both jitted inside
as ``jax.nn``'s activations are. Ratios measured in one run are what to compare: shared machines
are noisy.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.core import provenance
from nish_jax import SINE_PATHS, get_activation, nish, nish_with_sine

EAGER_SIZE = 1000  # a small array, where an eager call's cost is its dispatch
EAGER_REPEATS = 300


def naive_nish(x: jax.Array) -> jax.Array:
    """The textbook formula, for reference: what nish_jax.nish is measured against."""
    return jnp.where(x >= 0, x, jax.nn.sigmoid(x) * (x + jnp.sin(x)))


ACTIVATIONS: dict[str, Callable] = {
    **{name: get_activation(name) for name in ("relu", "silu", "gelu", "mish", "nish")},
    "nish (jnp sin)": nish_with_sine("jnp"),  # nish's other float32 sine path, same custom_jvp
    "naive nish": naive_nish,
}


def _kernels(act: Callable) -> dict[str, Callable]:
    def vjp(x, cotangent):
        y, pullback = jax.vjp(act, x)
        return y, pullback(cotangent)[0]

    return {
        "forward": jax.jit(act),
        "grad": jax.jit(jax.grad(lambda x: jnp.sum(act(x)))),
        "fwd+bwd (vjp)": jax.jit(vjp),
    }


def time_kernels(size: int, repeats: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """Median seconds per (pass, activation); activations interleaved within every repeat."""
    x = jax.random.normal(jax.random.key(seed), (size,), jnp.float32) * 3.0
    cotangent = jnp.ones_like(x)
    kernels = {name: _kernels(act) for name, act in ACTIVATIONS.items()}
    results: dict[str, dict[str, float]] = {}
    for kernel in ("forward", "grad", "fwd+bwd (vjp)"):
        args = (x, cotangent) if kernel.startswith("fwd+bwd") else (x,)
        for name in ACTIVATIONS:
            jax.block_until_ready(kernels[name][kernel](*args))
        samples: dict[str, list[float]] = {name: [] for name in ACTIVATIONS}
        for _ in range(repeats):
            for name in ACTIVATIONS:
                start = time.perf_counter()
                jax.block_until_ready(kernels[name][kernel](*args))
                samples[name].append(time.perf_counter() - start)
        results[kernel] = {name: float(np.median(s)) for name, s in samples.items()}
    return results


def time_eager_calls(repeats: int = EAGER_REPEATS, seed: int = 0) -> dict[str, float]:
    """Median seconds of one eager call of nish and jax.nn.mish on EAGER_SIZE elements,
    interleaved within every repeat."""
    x = jax.random.normal(jax.random.key(seed), (EAGER_SIZE,), jnp.float32) * 3.0
    acts = {"nish": nish, "jax.nn.mish": jax.nn.mish}
    for act in acts.values():
        jax.block_until_ready(act(x))
    samples: dict[str, list[float]] = {name: [] for name in acts}
    for _ in range(repeats):
        for name, act in acts.items():
            start = time.perf_counter()
            jax.block_until_ready(act(x))
            samples[name].append(time.perf_counter() - start)
    return {name: float(np.median(s)) for name, s in samples.items()}


class DeepMLP(nn.Module):
    """16 Dense layers with one activation each: isolates what the activation costs in memory."""

    act: Callable
    depth: int = 16
    width: int = 1024

    @nn.compact
    def __call__(self, x):
        for _ in range(self.depth):
            x = self.act(nn.Dense(self.width)(x))
        return nn.Dense(10)(x)


def training_step_temp_bytes(act: Callable, batch: int = 512, width: int = 1024) -> int:
    """Compiled temporary memory of one SGD step of the 16-layer MLP."""
    model = DeepMLP(act=act, width=width)
    x = jnp.zeros((batch, width), jnp.float32)
    labels = jnp.zeros((batch,), jnp.int32)
    params = jax.eval_shape(model.init, jax.random.key(0), x)
    tx = optax.sgd(0.1, momentum=0.9)
    opt_state = jax.eval_shape(tx.init, params)

    def step(params, opt_state, x, labels):
        def loss_fn(p):
            logits = model.apply(p, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        grads = jax.grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(params, opt_state, x, labels).compile()
    return int(compiled.memory_analysis().temp_size_in_bytes)


def format_report(
    times: dict[str, dict[str, float]],
    memory: dict[str, int],
    size: int,
    eager: dict[str, float],
) -> str:
    names = list(ACTIVATIONS)
    lines = [
        f"Activation benchmark: {size:,} float32 elements; median time (ratio to silu)",
        "",
        "| pass | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for kernel, by_name in times.items():
        silu = by_name["silu"]
        cells = [f"{by_name[n] * 1e3:.1f} ms ({by_name[n] / silu:.2f}x)" for n in names]
        lines.append(f"| {kernel} | " + " | ".join(cells) + " |")
    silu_mem = memory["silu"]
    cells = [f"{memory[n] / 2**20:.1f} MiB ({memory[n] / silu_mem:.2f}x)" for n in names]
    lines.append("| 16-layer MLP step, temp memory | " + " | ".join(cells) + " |")
    ratios = {
        kernel: by_name["nish"] / by_name["nish (jnp sin)"] for kernel, by_name in times.items()
    }
    faster = SINE_PATHS[0] if ratios["fwd+bwd (vjp)"] <= 1 else "jnp"
    lines += [
        "",
        f"Sine path on {jax.devices()[0].platform}: nish (the {SINE_PATHS[0]} path) takes "
        + ", ".join(f"{ratio:.2f}x" for ratio in ratios.values())
        + f" the time of the jnp.sin path ({', '.join(ratios)}); faster in fwd+bwd: {faster}.",
        "",
        f"| eager call, {EAGER_SIZE:,} float32 elements | nish | jax.nn.mish | nish / mish |",
        "|---|---|---|---|",
        f"| median time per call | {eager['nish'] * 1e6:.1f} us | "
        f"{eager['jax.nn.mish'] * 1e6:.1f} us | {eager['nish'] / eager['jax.nn.mish']:.2f}x |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=16 * 2**20, help="elements per array")
    parser.add_argument("--repeats", type=int, default=9, help="interleaved repeats per pass")
    parser.add_argument("--quick", action="store_true", help="1M elements, 3 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.repeats = 2**20, 3
    if args.size < 1 or args.repeats < 1:
        parser.error(f"--size and --repeats must be positive, got {args.size} and {args.repeats}")
    print(provenance.machine_description())
    times = time_kernels(args.size, args.repeats)
    memory = {name: training_step_temp_bytes(act) for name, act in ACTIVATIONS.items()}
    report = format_report(times, memory, args.size, time_eager_calls())
    print(report)
    return report


if __name__ == "__main__":
    main()
