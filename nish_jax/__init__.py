"""nish-jax: the Nish activation for JAX, the paper's benchmark networks, and its experiments."""

from nish_jax._nish import (
    NISH_ARGMIN,
    NISH_MINIMUM,
    SINE_PATHS,
    nish,
    nish_derivative,
    nish_with_sine,
)
from nish_jax.activations import get_activation, list_activations
from nish_jax.models import create_model, from_timm, list_models, load_timm_checkpoint

# The package's version, read by the build (pyproject.toml: version = {attr = ...}).
__version__ = "0.1.0"

__all__ = [
    "NISH_ARGMIN",
    "NISH_MINIMUM",
    "SINE_PATHS",
    "create_model",
    "from_timm",
    "get_activation",
    "list_activations",
    "list_models",
    "load_timm_checkpoint",
    "nish",
    "nish_derivative",
    "nish_with_sine",
    "__version__",
]
