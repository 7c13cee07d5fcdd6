"""The paper's claims, how our primary comparisons test each, and the rule that gives a verdict.

Verdicts rest on the primary endpoint of each experiment, Holm-adjusted at the 5% level:
"supported" when every primary comparison of the claim differs significantly in the direction the
claim predicts (and, for a claim in Nish's favour, no Nish run diverged), "contradicted" when any
differs significantly against it, otherwise "not supported at this scale" (the table gives the
confidence intervals). Which experiment tests which claim is declared in
:mod:`experiments.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from experiments.paper import results as paper_results

ALPHA = 0.05
SCRATCH_CELLS = tuple(
    f"network={name}" for (name, pretrained) in paper_results.TABLE2 if not pretrained
)


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and how our primary comparisons test it."""

    source: str  # where the paper makes it
    statement: str
    # Which primary comparisons test it, and the sign of their mean_diff (Nish minus the other)
    # that the claim predicts.
    selects: Callable[[Mapping[str, Any]], bool]
    predicted_sign: int
    favours_nish: bool = True


FIG_2A = Claim(
    "Fig. 2a",
    "Beyond about 15 layers the others' MNIST test accuracy drops sharply while Nish keeps a "
    "much higher accuracy (ReLU, Swish, Mish).",
    lambda c: c["baseline"] in ("relu", "silu", "mish"),
    +1,
)

FIG_2B = Claim(
    "Fig. 2b",
    "With 5 layers and Gaussian input noise, Swish, Mish and Nish behave alike and better "
    "than ReLU (test loss).",
    lambda c: c["cell"].startswith("depth=5,") and c["baseline"] == "relu",
    -1,
)

FIG_2C = Claim(
    "Fig. 2c",
    "With 10 layers, Nish suppresses the noise best (lowest test loss).",
    lambda c: c["cell"].startswith("depth=10,"),
    -1,
)

TABLE_1 = Claim(
    "Table 1",
    "On CIFAR-10, Nish is slightly more accurate than Mish (5 networks, 10 runs each).",
    lambda c: c["baseline"] == "mish",
    +1,
)

TABLE_1_FAST = Claim(
    "Table 1 (fast protocol)",
    "Nish is more accurate than Mish on CIFAR-10, tested with many paired seeds of a fast "
    "training recipe (our study, not the paper's networks).",
    lambda c: c["baseline"] == "mish",
    +1,
)

TABLE_2_SCRATCH = Claim(
    "Table 2 (from scratch)",
    "On ImageNet-100, trained from scratch, Nish is ahead of Mish (MobileNetV2, TinyNet-C).",
    lambda c: c["baseline"] == "mish" and c["cell"] in SCRATCH_CELLS,
    +1,
)

TABLE_2_PRETRAINED = Claim(
    "Table 2 (pretrained)",
    "On ImageNet-100, from weights pretrained under another activation, Mish is ahead "
    "(EfficientNet-B0 AdvProp, TinyNet-B).",
    lambda c: c["baseline"] == "mish" and c["cell"] not in SCRATCH_CELLS,
    -1,
    favours_nish=False,
)


def is_significant(comparison: Mapping[str, Any]) -> bool:
    return comparison["p_holm"] is not None and comparison["p_holm"] < ALPHA


def verdict(claim: Claim, comparisons: Sequence[Mapping[str, Any]]) -> str:
    """The verdict rule of the module doc, on the claim's primary comparisons."""
    tested = [c for c in comparisons if c["primary"] and claim.selects(c)]
    if not tested:
        return "not tested (no primary comparison)"
    significant = [c for c in tested if is_significant(c)]
    against = [c for c in significant if claim.predicted_sign * c["mean_diff"] < 0]
    agreeing = [c for c in significant if claim.predicted_sign * c["mean_diff"] > 0]
    # Nish's diverged runs, each once: a cell's comparisons share Nish's runs (pairing on the
    # other's seeds, so the comparison with the most pairs counts them all).
    diverged = sum(
        max(c["diverged_activation"] for c in tested if c["cell"] == cell)
        for cell in {c["cell"] for c in tested}
    )
    if against:
        return f"contradicted ({len(against)} of {len(tested)} primary comparisons against it)"
    if claim.favours_nish and diverged:
        return f"not supported (Nish diverged in {diverged} of its runs)"
    if len(agreeing) == len(tested):
        return f"supported ({len(tested)} of {len(tested)} primary comparisons)"
    return (
        f"not supported at this scale ({len(agreeing)} of {len(tested)} primary comparisons "
        "significant, none against)"
    )


# The claims in the paper's order (the README's claims table).
CLAIMS = (
    FIG_2A,
    FIG_2B,
    FIG_2C,
    TABLE_1,
    TABLE_1_FAST,
    TABLE_2_SCRATCH,
    TABLE_2_PRETRAINED,
)
