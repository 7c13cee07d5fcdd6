"""Starting a run from given variables (fine-tuning): ``config.init_from`` names a ``.npz`` file.

The file holds one array per variable, keyed ``"<collection>/<module>/.../<leaf>"`` (for example
``"params/conv_stem/kernel"``, ``"batch_stats/bn1/mean"``), as :func:`save_variables` writes it
from ``{"params": ..., "batch_stats": ...}``. Every run starts from the same file's values; a
variable the file lacks (typically a new classifier with a different number of classes) keeps
its seeded random initialisation, so runs still differ in that and in their data order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import flax
import jax
import numpy as np
from jax.sharding import NamedSharding

from nish_jax.train.state import TrainState

COLLECTIONS = ("params", "batch_stats")


def save_variables(variables: Mapping[str, Any], path: str) -> str:
    """Write ``{"params": ..., "batch_stats": ...}`` (nested dicts of arrays) to ``path``."""
    if not path.endswith(".npz"):
        raise ValueError(f"variables file must end with .npz, got {path!r}")
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(dict(variables)), sep="/")
    arrays: dict[str, Any] = {key: np.asarray(value) for key, value in flat.items()}
    np.savez(path, **arrays)
    return path


def load_variables(path: str) -> dict[str, np.ndarray]:
    """The arrays of a variables file, keyed ``"<collection>/<path>"``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"init_from file {path!r} does not exist")
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def init_from_file(state: TrainState, path: str, sharding: NamedSharding) -> TrainState:
    """``state`` (runs axis first) with every variable found in ``path`` replaced in all runs.

    A key of the file that names no variable of the model, or whose shape differs from the
    variable's, raises a ValueError naming it (a wrong file never loads silently).
    """
    loaded = load_variables(path)
    bad = sorted(key for key in loaded if key.split("/", 1)[0] not in COLLECTIONS)
    if bad:
        raise ValueError(f"{path}: keys outside {COLLECTIONS}: {', '.join(bad)}")
    trees = {}
    for collection in COLLECTIONS:
        flat = flax.traverse_util.flatten_dict(
            flax.core.unfreeze(getattr(state, collection)), sep="/"
        )
        for key, leaf in flat.items():
            name = f"{collection}/{key}"
            if name not in loaded:
                continue
            value = loaded.pop(name)
            if value.shape != leaf.shape[1:]:
                raise ValueError(
                    f"{path}: {name} has shape {value.shape}; the model's variable has "
                    f"shape {leaf.shape[1:]}"
                )
            stacked = np.broadcast_to(value.astype(leaf.dtype), leaf.shape)
            flat[key] = jax.device_put(stacked, sharding)
        trees[collection] = flax.traverse_util.unflatten_dict(flat, sep="/")
    if loaded:
        raise ValueError(f"{path}: variables the model does not have: {', '.join(sorted(loaded))}")
    return state.replace(**trees)
