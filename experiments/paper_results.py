"""The numbers the paper reports, to print beside ours (None where we could not obtain them).

Source: Y. Anagun and S. Isik, "Nish: A Novel Negative Stimulated Hybrid Activation Function",
arXiv:2210.09083 (v3), Table 1 (CIFAR-10) and Table 2 (ImageNet-100). Only the paper's abstract
was readable offline when this file was written (the full text with the tables was not), so every
value is None: the tables then say "not available offline". Fill in a value only from the paper
itself, with the version it came from, and never estimate one.

What the paper's text (abstract and experiment descriptions) fixes, and therefore what our
``paper`` configs follow: CIFAR-10 with SqueezeNet, ResNet-18, EfficientNet-B0, EfficientNetV2-S
and MobileNetV2, Mish against Nish, Adam, 50/100/150 epochs, 10 runs per cell reported as mean
accuracy, mean loss and standard deviation of the accuracy; ImageNet-100 with MobileNetV2 and
TinyNet-C from scratch, TF-EfficientNet-B0 (AdvProp) and TinyNet-B from ImageNet-1k weights,
horizontal and vertical flips, batch 32, top-1 accuracy. Everything else in those configs
(learning rate, batch size on CIFAR-10, input size, SqueezeNet version) is our assumption and is
labelled so in the configs.
"""

from __future__ import annotations

SOURCE = "Anagun & Isik, arXiv:2210.09083, Tables 1 and 2"
NOT_AVAILABLE = "not available offline"

CIFAR10_MODELS = (
    "squeezenet1_1",
    "resnet18",
    "efficientnet_b0",
    "tf_efficientnetv2_s",
    "mobilenetv2_100",
)
CIFAR10_EPOCHS = (50, 100, 150)
IMAGENET100_MODELS = ("mobilenetv2_100", "tinynet_c", "tf_efficientnet_b0", "tinynet_b")
ACTIVATIONS = ("mish", "nish")

# (model, activation, epochs) -> {"accuracy": %, "loss": ..., "std": % points} or None.
CIFAR10_TABLE: dict[tuple[str, str, int], dict[str, float] | None] = {
    (model, act, epochs): None
    for model in CIFAR10_MODELS
    for act in ACTIVATIONS
    for epochs in CIFAR10_EPOCHS
}

# (model, activation) -> top-1 accuracy in % or None.
IMAGENET100_TABLE: dict[tuple[str, str], float | None] = {
    (model, act): None for model in IMAGENET100_MODELS for act in ACTIVATIONS
}


def cifar10_cell(model: str, act: str, epochs: int) -> str:
    """The paper's "accuracy / loss / std" for one cell of Table 1, or why it is missing."""
    values = CIFAR10_TABLE.get((model, act, epochs))
    if values is None:
        known = (model, act, epochs) in CIFAR10_TABLE
        return NOT_AVAILABLE if known else "not in the paper"
    return f"{values['accuracy']:.2f} / {values['loss']:.4f} / {values['std']:.2f}"


def imagenet100_cell(model: str, act: str) -> str:
    """The paper's top-1 accuracy for one cell of Table 2, or why it is missing."""
    value = IMAGENET100_TABLE.get((model, act))
    if value is None:
        return NOT_AVAILABLE if (model, act) in IMAGENET100_TABLE else "not in the paper"
    return f"{value:.2f}"
