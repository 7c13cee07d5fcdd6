"""The contract every experiment module keeps, and the ending they share: train, then publish.

An experiment module declares ``EXPERIMENT`` (its name: the command and the results folder) and
``TITLE``, and three functions:

- ``check_config(config)``: reject a bad value before anything trains (ValueError naming it);
- ``train(config) -> rows``: every run's row, trained, resumed or read from the records store;
- ``analyse(config, rows) -> Analysis``: the numbers first (comparisons), then their formatting
  (table, figure, summary). It reads only ``rows``, so a committed ``runs.csv`` republishes.

:func:`run` and :func:`publish` are the one ending of every experiment; the registry
(:mod:`experiments.registry`) finds the modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import ml_collections
from matplotlib.figure import Figure

from experiments.core import report


@dataclass(frozen=True)
class Analysis:
    """What an experiment derives from its rows: the comparisons, then their presentation."""

    comparisons: Sequence[Mapping[str, Any]]
    table: report.Table
    figure: Figure
    summary: Sequence[str]


class ExperimentModule(Protocol):
    """The module contract (see the module doc)."""

    EXPERIMENT: str
    TITLE: str

    def check_config(self, config: ml_collections.ConfigDict) -> None: ...

    def train(self, config: ml_collections.ConfigDict) -> list[dict[str, Any]]: ...

    def analyse(
        self, config: ml_collections.ConfigDict, rows: Sequence[Mapping[str, Any]]
    ) -> Analysis: ...


def run(module: ExperimentModule, config: ml_collections.ConfigDict) -> report.Results:
    """Check ``config``, train (or read) every run, and publish the outputs."""
    module.check_config(config)
    report.enable_compilation_cache(config.output_root)
    return publish(module, config, module.train(config))


def publish(
    module: ExperimentModule,
    config: ml_collections.ConfigDict,
    rows: Sequence[Mapping[str, Any]],
    meta: Mapping[str, Any] | None = None,
) -> report.Results:
    """Analyse finished ``rows`` and write every output (``meta``: a committed result's own
    machine record, kept when it is republished)."""
    analysis = module.analyse(config, rows)
    return report.publish(
        config,
        experiment=module.EXPERIMENT,
        title=module.TITLE,
        runs=rows,
        comparisons=analysis.comparisons,
        table=analysis.table,
        figure=analysis.figure,
        summary=analysis.summary,
        meta=meta,
    )
