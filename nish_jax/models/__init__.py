"""The paper's benchmark networks as Flax modules that take the activation as a parameter.

>>> from nish_jax.models import create_model
>>> model = create_model("resnet18", num_classes=10, act="nish", stem="cifar")

The image networks take a ``stem`` option: "imagenet", the reference network (timm's or
torchvision's; the default, except for preact_resnet18 which has no ImageNet reference), or
"cifar", the same network with the stem and early strides of the common CIFAR collections
(kuangliu/pytorch-cifar), for 32x32 images:

- resnet18, senet18: 3x3/1 stem conv instead of 7x7/2, no stem max-pool.
- preact_resnet18: its 3x3/1 stem conv; "imagenet" gives it resnet18's 7x7/2 conv and max-pool.
- squeezenet1_0, squeezenet1_1: 3x3/1 padded stem conv (1.0: instead of 7x7/2; 1.1: instead of
  3x3/2), no max-pool after it.
- mobilenetv2_100: stride-1 stem conv, and the second stage (24 channels) at stride 1.
- efficientnet_b0, tf_efficientnet_b0, tf_efficientnetv2_s, tinynet_b, tinynet_c: stride-1 stem
  conv.

Everything else (layers, names, initialisation) stays the reference's; the family modules give
the details and sources. The spatial size entering the global pooling on 32x32 images and the
parameter count (BatchNorm statistics excluded) at 10 classes, default stem marked ``*``:

| model | stem | at the pooling | parameters |
| --- | --- | --- | --- |
| resnet18 | imagenet* | 1x1 | 11,181,642 |
| resnet18 | cifar | 4x4 | 11,173,962 |
| senet18 | imagenet* | 1x1 | 11,271,754 |
| senet18 | cifar | 4x4 | 11,264,074 |
| preact_resnet18 | imagenet | 1x1 | 11,179,850 |
| preact_resnet18 | cifar* | 4x4 | 11,172,170 |
| squeezenet1_0 | imagenet* | 1x1 | 740,554 |
| squeezenet1_0 | cifar | 8x8 | 729,034 |
| squeezenet1_1 | imagenet* | 1x1 | 727,626 |
| squeezenet1_1 | cifar | 8x8 | 727,626 |
| mobilenetv2_100 | imagenet* | 1x1 | 2,236,682 |
| mobilenetv2_100 | cifar | 4x4 | 2,236,682 |
| efficientnet_b0 | imagenet* | 1x1 | 4,020,358 |
| efficientnet_b0 | cifar | 2x2 | 4,020,358 |
| tf_efficientnet_b0 | imagenet* | 1x1 | 4,020,358 |
| tf_efficientnet_b0 | cifar | 2x2 | 4,020,358 |
| tf_efficientnetv2_s | imagenet* | 1x1 | 20,190,298 |
| tf_efficientnetv2_s | cifar | 2x2 | 20,190,298 |
| tinynet_b | imagenet* | 1x1 | 2,462,372 |
| tinynet_b | cifar | 2x2 | 2,462,372 |
| tinynet_c | imagenet* | 1x1 | 1,189,044 |
| tinynet_c | cifar | 2x2 | 1,189,044 |

senet18 with the ImageNet stem is timm's ``seresnet18``, so ``from_timm`` converts its weights.
timm's weight files load with :func:`load_timm_checkpoint`:

>>> model, variables = load_timm_checkpoint("resnet18", "model.safetensors")  # doctest: +SKIP
"""

# Importing a family registers its models.
from nish_jax.models import cnn, efficientnet, mlp, resnet, squeezenet  # noqa: F401
from nish_jax.models.convert import from_timm, load_timm_checkpoint
from nish_jax.models.registry import ModelSpec, create_model, get_spec, list_models

__all__ = [
    "ModelSpec",
    "create_model",
    "from_timm",
    "get_spec",
    "list_models",
    "load_timm_checkpoint",
]
