"""The paper's benchmark networks as Flax modules that take the activation as a parameter.

>>> from nish_jax.models import create_model
>>> model = create_model("resnet18", num_classes=10, act="nish", stem="cifar")
"""

# Importing a family registers its models.
from nish_jax.models import cnn, efficientnet, mlp, resnet, squeezenet  # noqa: F401
from nish_jax.models.convert import from_timm
from nish_jax.models.registry import ModelSpec, create_model, get_spec, list_models

__all__ = ["ModelSpec", "create_model", "from_timm", "get_spec", "list_models"]
