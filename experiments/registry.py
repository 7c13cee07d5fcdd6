"""Every experiment, declared once: its name, module, config, README variants and claims.

The entry point (``python -m experiments <name>``), the README generator and the tests find the
experiments here. Adding one is a folder (its module, which keeps the contract of
:mod:`experiments.core.experiment`, and its config) plus one line below.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from types import ModuleType

import ml_collections

from experiments.cifar10 import study as cifar10_study
from experiments.cifar10 import table1
from experiments.cifar10.configs import cifar10_study as cifar10_study_config
from experiments.cifar10.configs import cifar10_table as cifar10_table_config
from experiments.core import experiment, report
from experiments.imagenet100 import table2
from experiments.imagenet100.configs import imagenet100_table as imagenet100_table_config
from experiments.mnist import depth_mechanism, depth_sweep, gradient_flow, noise_robustness
from experiments.mnist.configs import depth_mechanism as depth_mechanism_config
from experiments.mnist.configs import depth_sweep as depth_sweep_config
from experiments.mnist.configs import gradient_flow as gradient_flow_config
from experiments.mnist.configs import noise_robustness as noise_robustness_config
from experiments.paper import claims
from experiments.paper.claims import Claim


@dataclass(frozen=True)
class Experiment:
    """One experiment: ``module`` keeps the contract, ``config`` has ``get_config(variant)`` and
    ``VARIANTS``; the README shows the first committed of ``readme_variants`` as the answer to
    ``claims`` (and every committed one's table)."""

    module: ModuleType
    config: ModuleType
    readme_variants: tuple[str, ...]
    claims: tuple[Claim, ...] = ()
    # What the pages say of a variant beside its name, e.g. {"full": "pilot, exploratory"}.
    labels: tuple[tuple[str, str], ...] = ()

    def describe(self, variant: str) -> str:
        """``"`<variant>` config"``, with the variant's label where it has one."""
        label = dict(self.labels).get(variant)
        return f"`{variant}` config" + (f" ({label})" if label else "")

    @property
    def name(self) -> str:
        return self.module.EXPERIMENT

    @property
    def title(self) -> str:
        return self.module.TITLE

    @property
    def config_file(self) -> str:
        """The config's file, as ``--config`` names it."""
        return os.path.relpath(self.config.__file__)

    @property
    def variants(self) -> tuple[str, ...]:
        return self.config.VARIANTS

    @property
    def default_variant(self) -> str:
        return inspect.signature(self.config.get_config).parameters["variant"].default

    def get_config(self, variant: str) -> ml_collections.ConfigDict:
        return self.config.get_config(variant)

    def run(self, config: ml_collections.ConfigDict) -> report.Results:
        return experiment.run(self.module, config)

    def publish(self, config, rows, meta=None) -> report.Results:
        return experiment.publish(self.module, config, rows, meta)


EXPERIMENTS = (
    Experiment(
        depth_sweep, depth_sweep_config, ("full", "origin", "ours", "quick"), (claims.FIG_2A,)
    ),
    Experiment(
        noise_robustness,
        noise_robustness_config,
        ("confirm", "confirm_noisy", "full", "paper"),
        (claims.FIG_2B, claims.FIG_2C),
        labels=(
            ("confirm_noisy", "the confirmatory networks under noisy training, exploratory"),
            ("full", "the pilot, exploratory"),
        ),
    ),
    Experiment(gradient_flow, gradient_flow_config, ("full", "origin")),
    Experiment(depth_mechanism, depth_mechanism_config, ("full",)),
    Experiment(cifar10_study, cifar10_study_config, ("gpu", "cpu"), (claims.TABLE_1_FAST,)),
    Experiment(table1, cifar10_table_config, ("paper", "quick"), (claims.TABLE_1,)),
    Experiment(
        table2,
        imagenet100_table_config,
        ("paper", "quick"),
        (claims.TABLE_2_SCRATCH, claims.TABLE_2_PRETRAINED),
    ),
)
_BY_NAME = {spec.name: spec for spec in EXPERIMENTS}


def names() -> list[str]:
    """Every experiment's name, in the README's order."""
    return list(_BY_NAME)


def testing(claim: Claim) -> Experiment:
    """The experiment that tests ``claim``."""
    (spec,) = [spec for spec in EXPERIMENTS if claim in spec.claims]
    return spec


def get(name: str) -> Experiment:
    """The experiment called ``name``; a ValueError lists the valid names."""
    if name not in _BY_NAME:
        raise ValueError(f"unknown experiment {name!r}; valid: {', '.join(_BY_NAME)}")
    return _BY_NAME[name]
