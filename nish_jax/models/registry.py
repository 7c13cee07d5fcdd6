"""The model registry: every network is a :class:`ModelSpec` that families register at import."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn

from nish_jax.activations import Activation, resolve_activation

# Options every model accepts, besides its family's own.
COMMON_OPTIONS = ("dtype",)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to build one named network and how its timm/torchvision weights map onto it.

    ``build(num_classes=..., act=<callable>, **options)`` returns the Flax module. ``torch_key``
    maps a Flax variable path (collection dropped) to the reference implementation's state-dict
    key; ``classifier`` names the reference's final linear layer (its rows are the classes).
    """

    name: str
    build: Callable[..., nn.Module]
    default_act: str
    options: tuple[str, ...] = ()
    input_shape: tuple[int, int, int] = (224, 224, 3)
    torch_key: Callable[[tuple[str, ...]], str] | None = None
    classifier: str | None = None
    reference: str = "timm"


_MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry (names are unique)."""
    if spec.name in _MODELS:
        raise ValueError(f"model {spec.name!r} is registered twice")
    _MODELS[spec.name] = spec
    return spec


def list_models() -> list[str]:
    """The names :func:`create_model` accepts."""
    return sorted(_MODELS)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered as ``name``; ValueError listing the valid names."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(list_models())}")
    return _MODELS[name]


def create_model(
    name: str, *, num_classes: int, act: str | Activation | None = None, **options: Any
) -> nn.Module:
    """The network ``name`` with ``num_classes`` outputs and activation ``act``.

    ``act`` is a registry name (see :func:`nish_jax.list_activations`), any callable, or ``None``
    for the reference model's own activation (relu for resnet18, relu6 for mobilenetv2_100, silu
    for the EfficientNet and TinyNet family), so ``act="nish"`` swaps every activation for Nish.
    """
    spec = get_spec(name)
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    valid = sorted(set(spec.options) | set(COMMON_OPTIONS))
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for model {name!r}; "
            f"valid options: {', '.join(valid)}"
        )
    return spec.build(
        num_classes=num_classes, act=resolve_activation(act, spec.default_act), **options
    )
