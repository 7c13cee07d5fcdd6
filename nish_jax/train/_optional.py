"""The engine's own dependencies (the ``train`` extra), imported where they are first needed, so
that ``import nish_jax.train`` works without them."""

from __future__ import annotations

import importlib
from types import ModuleType

INSTALL_HINT = "pip install 'nish-jax[train]'"


def import_train_dependency(module: str, needed_by: str) -> ModuleType:
    """Import a dependency of the ``train`` extra.

    Args:
      module: the module to import, for example ``"ml_collections"``.
      needed_by: what needs it, named in the error.

    Returns:
      The module.

    Raises:
      ImportError: the module is not installed; the message says ``pip install 'nish-jax[train]'``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{needed_by} needs {module}, which is not installed: {INSTALL_HINT}"
        ) from error
