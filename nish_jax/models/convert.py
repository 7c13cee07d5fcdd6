"""Weight conversion from timm / torchvision PyTorch state dicts to this package's variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np

from nish_jax.models.registry import create_model, get_spec

# Flax leaf name -> PyTorch parameter or buffer name.
_LEAF_NAMES = {
    "kernel": "weight",
    "scale": "weight",
    "bias": "bias",
    "mean": "running_mean",
    "var": "running_var",
}
_IGNORED_SUFFIXES = ("num_batches_tracked",)


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _to_flax_layout(array: np.ndarray) -> np.ndarray:
    """PyTorch OIHW conv kernels become HWIO, (out, in) linear weights become (in, out)."""
    if array.ndim == 4:
        array = array.transpose(2, 3, 1, 0)
    elif array.ndim == 2:
        array = array.T
    return array


def from_timm(name: str, state_dict: Mapping[str, Any], **options: Any) -> dict:
    """Flax variables (``params`` and ``batch_stats``) of model ``name`` from a PyTorch state dict.

    The state dict is timm's (torchvision's for SqueezeNet) for the same architecture; the number
    of classes is read from its classifier. ``options`` are :func:`create_model` options that
    change the architecture (for example ``stem`` for resnet18). A missing, unused or misshapen key
    raises a KeyError or ValueError naming it.
    """
    spec = get_spec(name)
    if spec.torch_key is None or spec.classifier is None:
        raise ValueError(f"model {name!r} has no {spec.reference} reference to convert from")
    classifier = f"{spec.classifier}.weight"
    if classifier not in state_dict:
        raise KeyError(f"state dict has no classifier weight {classifier!r} for model {name!r}")
    num_classes = int(_to_numpy(state_dict[classifier]).shape[0])
    model = create_model(name, num_classes=num_classes, **options)
    sample = jnp.zeros((1, *spec.input_shape), jnp.float32)
    template = jax.eval_shape(lambda: model.init(jax.random.key(0), sample, train=False))
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(template))
    used: set[str] = set()
    converted = {}
    for path, leaf in flat.items():
        collection, *module_path, leaf_name = path
        key = f"{spec.torch_key(tuple(module_path))}.{_LEAF_NAMES[leaf_name]}"
        if key not in state_dict:
            raise KeyError(f"state dict has no {key!r} (for Flax variable {'/'.join(path)})")
        source = _to_numpy(state_dict[key])
        array = _to_flax_layout(source)
        if array.shape != leaf.shape:
            raise ValueError(
                f"state dict entry {key!r} has shape {source.shape}, which does not fit "
                f"Flax variable {'/'.join(path)} of shape {leaf.shape}"
            )
        converted[path] = jnp.asarray(array, leaf.dtype)
        used.add(key)
    unused = sorted(k for k in state_dict if k not in used and not k.endswith(_IGNORED_SUFFIXES))
    if unused:
        raise KeyError(f"state dict entries not used by model {name!r}: {', '.join(unused)}")
    return flax.traverse_util.unflatten_dict(converted)
