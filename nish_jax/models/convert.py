"""Weight conversion from timm / torchvision PyTorch state dicts to this package's variables.

:func:`from_timm` converts a state dict in memory; :func:`load_timm_checkpoint` reads a weight
file (timm's ``model.safetensors`` without torch, or a PyTorch ``.pth``/``.pt``/``.bin``) and
returns the model with its variables, as ``timm.create_model(..., pretrained=True)`` would.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nish_jax.models.registry import create_model, get_spec

#: The weight file types :func:`load_timm_checkpoint` reads.
CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")

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
    """Flax variables of model ``name`` from a PyTorch state dict of the same architecture.

    Args:
      name: a model with a timm (torchvision for SqueezeNet) reference: resnet18, senet18
        (timm's seresnet18), squeezenet1_0/1_1 and the EfficientNet family.
      state_dict: the reference's state dict (torch tensors or numpy arrays); the number of
        classes is read from its classifier.
      **options: :func:`create_model` options, for example ``stem`` (which must match the
        weights) or ``param_dtype`` (the dtype of the returned parameters).

    Returns:
      ``{"params": ..., "batch_stats": ...}`` for ``create_model(name, num_classes=<the state
      dict's>, **options)``.

    Raises:
      KeyError: a variable's key is missing from the state dict, or a state dict entry is unused
        (``num_batches_tracked`` aside); the message names it.
      ValueError: the model has no reference, or an entry's shape does not fit its variable.
    """
    return _convert(name, state_dict, options)[1]


def load_timm_checkpoint(
    name: str, path: str | os.PathLike[str], **options: Any
) -> tuple[nn.Module, dict]:
    """The model ``name`` and its variables from a timm (torchvision) weight file.

    The loading counterpart of ``timm.create_model(name, pretrained=True)``: a Flax module holds
    no weights, so the model and its variables come back together. The file is converted by
    :func:`from_timm`, with its strict key and shape checks.

    Args:
      name: a model :func:`from_timm` converts.
      path: timm's ``.safetensors`` file (read with numpy: ``pip install 'nish-jax[timm]'``,
        no torch needed) or a PyTorch state dict ``.pth``/``.pt``/``.bin`` (read with torch,
        ``weights_only=True``; a dict holding it under ``"state_dict"`` also works).
      **options: :func:`create_model` options, for example ``act="nish"`` or ``stem``.

    Returns:
      ``(model, variables)``: ``model.apply(variables, images)`` gives the reference's logits,
      the number of classes being the file's.

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ValueError: an unknown file type, or as :func:`from_timm`.
      KeyError: as :func:`from_timm`.
      ImportError: safetensors (or torch, for a PyTorch file) is not installed.
    """
    return _convert(name, _read_state_dict(os.fspath(path)), options)


def _read_state_dict(path: str) -> dict[str, Any]:
    """The state dict of a weight file, as numpy arrays (safetensors) or torch tensors."""
    if not path.endswith(CHECKPOINT_SUFFIXES):
        raise ValueError(
            f"unknown weight file type {path!r}; valid: {', '.join(CHECKPOINT_SUFFIXES)}"
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weight file {path!r} does not exist")
    if path.endswith(".safetensors"):
        try:
            from safetensors.numpy import load_file
        except ImportError as error:
            raise ImportError(
                f"reading {path} needs safetensors: pip install 'nish-jax[timm]'"
            ) from error
        return load_file(path)
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"reading the PyTorch file {path} needs torch (pip install torch), or convert it "
            "to .safetensors"
        ) from error
    state = torch.load(path, map_location="cpu", weights_only=True)
    return dict(state.get("state_dict", state))


def _convert(
    name: str, state_dict: Mapping[str, Any], options: Mapping[str, Any]
) -> tuple[nn.Module, dict]:
    """The model and the variables :func:`from_timm` documents."""
    spec = get_spec(name)
    if spec.torch_key is None or spec.classifier is None:
        raise ValueError(f"model {name!r} has no {spec.reference} reference to convert from")
    classifier = f"{spec.classifier}.weight"
    if classifier not in state_dict:
        raise KeyError(f"state dict has no classifier weight {classifier!r} for model {name!r}")
    num_classes = int(_to_numpy(state_dict[classifier]).shape[0])
    model = create_model(name, num_classes=num_classes, **options)
    sample = jnp.zeros((1, *spec.input_shape[:2], model.in_chans), jnp.float32)
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
    return model, flax.traverse_util.unflatten_dict(converted)
