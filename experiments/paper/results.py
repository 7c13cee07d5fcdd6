"""The numbers the paper reports, printed beside ours, and what its own numbers can support.

Source: Y. Anagun and S. Isik, "Nish: A Novel Negative Stimulated Hybrid Activation Function",
arXiv:2210.09083, Table 1 (CIFAR-10) and Table 2 (ImageNet-100), as transcribed in the project's
shared paper notes (``shared/paper/table1_cifar10.csv`` and ``table2_imagenet100.csv``) and copied
here so that nothing reads outside the project at run time. The paper's precision is kept: mean
accuracy (%) and its standard deviation to 2 and 4 decimals, mean loss to 4.

Protocol as the paper states it (everything else is not stated; see the configs for our choices):
Table 1: five networks, Mish against Nish, Adam, 50/100/150 epochs, 10 runs per cell, reported as
mean test accuracy, mean test loss and the standard deviation of the accuracy. Table 2: MobileNetV2
and TinyNet-C from scratch, EfficientNet-B0 (AdvProp) and TinyNet-B from ImageNet-1k weights,
random horizontal and vertical flips, batch 32, top-1 accuracy.

Two of Table 1's citations do not match its network names: "SqueezeNet" cites the
Squeeze-and-Excitation paper and "ResNet18" the pre-activation ResNet paper. :data:`READINGS`
maps each name to our model under either reading.
"""

from __future__ import annotations

from dataclasses import dataclass

from experiments.core import stats

SOURCE = "Anagun & Isik, arXiv:2210.09083, Tables 1 and 2"
RUNS_PER_CELL = 10  # Table 1, as the paper states
TABLE1_EPOCHS = (50, 100, 150)
ACTIVATIONS = ("mish", "nish")

# The paper's network names (Table 1) and our model for each, by the names or by the citations.
READINGS: dict[str, dict[str, str]] = {
    "names": {
        "squeezenet": "squeezenet1_1",
        "resnet18": "resnet18",
        "efficientnet_b0": "efficientnet_b0",
        "efficientnetv2_s": "tf_efficientnetv2_s",
        "mobilenetv2": "mobilenetv2_100",
    },
    "citations": {
        "squeezenet": "senet18",  # cites Hu et al., Squeeze-and-Excitation Networks
        "resnet18": "preact_resnet18",  # cites He et al., Identity Mappings (pre-activation)
        "efficientnet_b0": "efficientnet_b0",
        "efficientnetv2_s": "tf_efficientnetv2_s",
        "mobilenetv2": "mobilenetv2_100",
    },
}
TABLE1_NETWORKS = tuple(READINGS["names"])


@dataclass(frozen=True)
class Table1Cell:
    """One activation's entry in one cell of Table 1."""

    accuracy: float  # mean test accuracy over the runs (%)
    loss: float  # mean test loss
    std: float  # standard deviation of the accuracy (% points, as its magnitudes suggest)


# (network, activation, epochs) -> the paper's cell, in the paper's row order.
TABLE1: dict[tuple[str, str, int], Table1Cell] = {
    ("squeezenet", "mish", 50): Table1Cell(86.07, 0.4204, 0.6281),
    ("squeezenet", "mish", 100): Table1Cell(90.98, 0.2738, 0.2201),
    ("squeezenet", "mish", 150): Table1Cell(91.36, 0.3448, 0.2567),
    ("squeezenet", "nish", 50): Table1Cell(86.17, 0.4189, 0.4730),
    ("squeezenet", "nish", 100): Table1Cell(91.06, 0.2771, 0.1293),
    ("squeezenet", "nish", 150): Table1Cell(91.51, 0.3420, 0.2696),
    ("resnet18", "mish", 50): Table1Cell(85.98, 0.4288, 0.8765),
    ("resnet18", "mish", 100): Table1Cell(90.93, 0.2738, 0.1638),
    ("resnet18", "mish", 150): Table1Cell(91.22, 0.3296, 0.2905),
    ("resnet18", "nish", 50): Table1Cell(86.01, 0.4323, 0.5970),
    ("resnet18", "nish", 100): Table1Cell(91.04, 0.2731, 0.1844),
    ("resnet18", "nish", 150): Table1Cell(91.38, 0.3343, 0.1496),
    ("efficientnet_b0", "mish", 50): Table1Cell(85.25, 0.4373, 0.2374),
    ("efficientnet_b0", "mish", 100): Table1Cell(88.13, 0.3538, 0.2085),
    ("efficientnet_b0", "mish", 150): Table1Cell(88.45, 0.3818, 0.2783),
    ("efficientnet_b0", "nish", 50): Table1Cell(85.59, 0.4285, 0.2651),
    ("efficientnet_b0", "nish", 100): Table1Cell(88.55, 0.3452, 0.1177),
    ("efficientnet_b0", "nish", 150): Table1Cell(88.57, 0.3850, 0.2255),
    ("efficientnetv2_s", "mish", 50): Table1Cell(85.39, 0.4435, 1.2926),
    ("efficientnetv2_s", "mish", 100): Table1Cell(90.31, 0.2934, 0.2807),
    ("efficientnetv2_s", "mish", 150): Table1Cell(90.67, 0.3489, 0.2183),
    ("efficientnetv2_s", "nish", 50): Table1Cell(84.10, 0.5015, 0.6429),
    ("efficientnetv2_s", "nish", 100): Table1Cell(90.34, 0.2987, 0.0057),
    ("efficientnetv2_s", "nish", 150): Table1Cell(90.76, 0.3727, 0.2054),
    ("mobilenetv2", "mish", 50): Table1Cell(86.06, 0.4115, 0.4694),
    ("mobilenetv2", "mish", 100): Table1Cell(89.06, 0.3227, 0.0945),
    ("mobilenetv2", "mish", 150): Table1Cell(89.59, 0.3430, 0.1693),
    ("mobilenetv2", "nish", 50): Table1Cell(86.01, 0.4162, 0.3737),
    ("mobilenetv2", "nish", 100): Table1Cell(89.33, 0.3201, 0.1755),
    ("mobilenetv2", "nish", 150): Table1Cell(89.64, 0.3491, 0.0996),
}

# (model, pretrained on ImageNet-1k) -> (Mish top-1 %, Nish top-1 %); every row used the flips.
TABLE2: dict[tuple[str, bool], tuple[float, float]] = {
    ("mobilenetv2", False): (46.17, 46.54),
    ("tinynet_c", False): (66.69, 66.77),
    ("effnetb0_ap", True): (80.96, 80.64),
    ("tinynet_b", True): (83.98, 83.92),
}
# The paper's Table 2 names and our model for each.
TABLE2_MODELS = {
    "mobilenetv2": "mobilenetv2_100",
    "tinynet_c": "tinynet_c",
    "effnetb0_ap": "tf_efficientnet_b0",
    "tinynet_b": "tinynet_b",
}


def table1_cell(network: str, act: str, epochs: int) -> str:
    """The paper's "accuracy / loss / std" of one Table 1 entry, at the paper's precision."""
    cell = TABLE1.get((network, act, epochs))
    if cell is None:
        return "not in the paper"
    return f"{cell.accuracy:.2f} / {cell.loss:.4f} / {cell.std:.4f}"


def table1_support() -> list[dict[str, float | int | str]]:
    """How much of the paper's claim its own Table 1 supports: per cell, Nish minus Mish and the
    two-sided Welch p-value from the published means and standard deviations (n = 10 each, as
    stated), with Holm's adjustment over the 15 cells."""
    rows = []
    for network in TABLE1_NETWORKS:
        for epochs in TABLE1_EPOCHS:
            mish, nish = (TABLE1[(network, act, epochs)] for act in ACTIVATIONS)
            rows.append(
                {
                    "network": network,
                    "epochs": epochs,
                    "mish_accuracy": mish.accuracy,
                    "nish_accuracy": nish.accuracy,
                    "difference": round(nish.accuracy - mish.accuracy, 2),
                    "p_welch": stats.welch_from_summaries(
                        nish.accuracy,
                        nish.std,
                        RUNS_PER_CELL,
                        mish.accuracy,
                        mish.std,
                        RUNS_PER_CELL,
                    ),
                }
            )
    for row, adjusted in zip(rows, stats.holm([r["p_welch"] for r in rows]), strict=True):
        row["p_holm"] = adjusted
    return rows
