"""The registry of activations used by the experiments and the reference networks.

Activations are plain functions ``f(x) -> y``; a Flax module takes one as a field (``act``).

GELU comes in two forms: ``"gelu"`` is the exact erf form (PyTorch's ``nn.GELU()`` and timm's
default; the experiments' "gelu"), ``"gelu_tanh"`` the tanh approximation (timm's name for it),
which is what ``jax.nn.gelu`` computes by default (``approximate=True``).
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from nish_jax._nish import nish

__all__ = ["Activation", "get_activation", "list_activations", "resolve_activation"]

Activation = Callable[[jax.Array], jax.Array]


def _gelu_exact(x: jax.Array) -> jax.Array:
    """GELU with the exact erf form, as PyTorch's ``nn.GELU()`` and timm use by default."""
    return jax.nn.gelu(x, approximate=False)


def _gelu_tanh(x: jax.Array) -> jax.Array:
    """GELU with the tanh approximation, as ``jax.nn.gelu``'s default and PyTorch's
    ``nn.GELU(approximate="tanh")``."""
    return jax.nn.gelu(x, approximate=True)


_REGISTRY: dict[str, Activation] = {
    "relu": jax.nn.relu,
    "relu6": jax.nn.relu6,
    "leaky_relu": jax.nn.leaky_relu,
    "elu": jax.nn.elu,
    "selu": jax.nn.selu,
    "gelu": _gelu_exact,
    "gelu_tanh": _gelu_tanh,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "mish": jax.nn.mish,
    "nish": nish,
}


def list_activations() -> list[str]:
    """The names :func:`get_activation` accepts.

    Returns:
      The registered names, sorted (``swish`` is an alias of ``silu``).
    """
    return sorted(_REGISTRY)


def get_activation(name: str) -> Activation:
    """The activation function registered under ``name``.

    Args:
      name: a name of :func:`list_activations` (case-insensitive, surrounding spaces ignored).

    Returns:
      The activation, a function ``f(x) -> y`` applied elementwise.

    Raises:
      TypeError: ``name`` is not a string.
      ValueError: ``name`` is not registered; the message lists the valid names.
    """
    if not isinstance(name, str):
        raise TypeError(f"activation name must be a string, got {type(name).__name__}: {name!r}")
    key = name.strip().lower()
    if key not in _REGISTRY:
        raise ValueError(
            f"unknown activation {name!r}; valid names: {', '.join(list_activations())}"
        )
    return _REGISTRY[key]


def resolve_activation(act: str | Activation | None, default: str) -> Activation:
    """``act`` as a function: a registry name, any callable, or ``None`` for ``default``."""
    if act is None:
        return get_activation(default)
    if isinstance(act, str):
        return get_activation(act)
    if callable(act):
        return act
    raise ValueError(
        f"act must be an activation name or a callable, got {act!r}; "
        f"valid names: {', '.join(list_activations())}"
    )
