"""The model registry: every network is a :class:`ModelSpec` that families register at import.

A network's options are the fields of its Flax module (less ``num_classes`` and ``act``, which
:func:`create_model` sets, and the fields its spec fixes); the module validates their values.
Every network has timm's ``in_chans`` (input channels), and Flax's ``dtype`` (the computation
dtype) and ``param_dtype`` (the parameters' dtype), both float32 by default.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn

from nish_jax.activations import Activation, resolve_activation

# Module fields that are not options: set by create_model, or Flax's own.
_NOT_OPTIONS = frozenset({"num_classes", "act", "parent", "name"})


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to build one named network and how its timm/torchvision weights map onto it.

    ``build`` is the Flax module class, or a ``functools.partial`` of it that fixes some fields;
    ``build(num_classes=..., act=<callable>, **options)`` returns the module. ``torch_key``
    maps a Flax variable path (collection dropped) to the reference implementation's state-dict
    key; ``classifier`` names the reference's final linear layer (its rows are the classes).
    """

    name: str
    build: Callable[..., nn.Module]
    default_act: str
    input_shape: tuple[int, int, int] = (224, 224, 3)
    torch_key: Callable[[tuple[str, ...]], str] | None = None
    classifier: str | None = None
    reference: str = "timm"

    @property
    def options(self) -> tuple[str, ...]:
        """The options :func:`create_model` accepts for this network, sorted."""
        if isinstance(self.build, functools.partial):
            module, fixed = self.build.func, set(self.build.keywords)
        else:
            module, fixed = self.build, set()
        fields = dataclasses.fields(module)  # type: ignore[arg-type]  # a Flax module class
        return tuple(sorted(f.name for f in fields if f.name not in _NOT_OPTIONS | fixed))


_MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry (names are unique)."""
    if spec.name in _MODELS:
        raise ValueError(f"model {spec.name!r} is registered twice")
    _MODELS[spec.name] = spec
    return spec


def list_models(pattern: str = "*") -> list[str]:
    """The names :func:`create_model` accepts, as timm's ``list_models`` filters them.

    Args:
      pattern: a shell-style wildcard pattern (:mod:`fnmatch`, case-sensitive), for example
        ``"resnet*"`` or ``"*efficientnet*"``; the default matches every name.

    Returns:
      The matching model names, sorted.
    """
    return sorted(name for name in _MODELS if fnmatch.fnmatchcase(name, pattern))


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered as ``name``; ValueError listing the valid names."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(list_models())}")
    return _MODELS[name]


def create_model(
    name: str, *, num_classes: int = 1000, act: str | Activation | None = None, **options: Any
) -> nn.Module:
    """The network ``name`` with ``num_classes`` outputs and activation ``act``, as timm's
    ``create_model`` builds it (a Flax module holds no weights: initialise it with ``init``, or
    load timm's with :func:`nish_jax.models.load_timm_checkpoint`).

    Args:
      name: a name of :func:`list_models`.
      num_classes: the number of outputs (timm's default, ImageNet-1k's 1000).
      act: a registry name (see :func:`nish_jax.list_activations`), any callable, or ``None``
        for the reference model's own activation (relu for resnet18, relu6 for mobilenetv2_100,
        silu for the EfficientNet and TinyNet family), so ``act="nish"`` swaps every activation
        for Nish.
      **options: the network's own (``get_spec(name).options``), for example ``stem="cifar"``
        (the 32x32 variants, listed in :mod:`nish_jax.models`), ``in_chans``, ``dtype`` and
        ``param_dtype``.

    Returns:
      The Flax module; call it on NHWC images (``train=True`` for training mode).

    Raises:
      ValueError: an unknown name or option, or a bad value; the message says what is valid.
    """
    spec = get_spec(name)
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for model {name!r}; "
            f"valid options: {', '.join(spec.options)}"
        )
    return spec.build(
        num_classes=num_classes, act=resolve_activation(act, spec.default_act), **options
    )
