"""Shared reporting for the experiments: statistics over runs, tables, figures, summaries.

Every experiment writes into ``results/<experiment>/<config>/`` (:func:`results_dir`):

- ``runs.csv``: one row per run (and per depth, noise level, ...), the raw numbers;
- ``table.md`` and ``table.csv``: mean, standard deviation and 95% confidence interval over runs;
- ``figure.png``: the figure;
- ``summary.md``: a few lines, also printed at the end of the run.

A config other than ``paper`` (the paper's full protocol) is a reduced protocol: its name is put
in every title, table header and summary (:func:`label`) so its numbers are never mistaken for the
paper's.

>>> stats = summarize([97.1, 97.5, 97.3])
>>> round(stats.mean, 2), stats.n
(97.3, 3)
"""

from __future__ import annotations

import csv
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after selecting the Agg backend)
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats as scipy_stats  # noqa: E402

PAPER_CONFIG = "paper"
SPREADS = ("ci", "std")


@dataclass(frozen=True)
class Summary:
    """Statistics of one group of runs. With fewer than two runs the spread is NaN."""

    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1)
    sem: float  # standard error of the mean
    ci_half_width: float  # half width of the confidence interval (Student t)
    confidence: float

    @property
    def ci_low(self) -> float:
        return self.mean - self.ci_half_width

    @property
    def ci_high(self) -> float:
        return self.mean + self.ci_half_width


def summarize(values: Iterable[float], confidence: float = 0.95) -> Summary:
    """Mean, standard deviation, standard error and Student-t confidence interval of ``values``."""
    array = np.asarray(list(values), dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"summarize needs a non-empty 1-D sequence of numbers, got {array!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    n = array.size
    mean = float(array.mean())
    if n < 2:
        return Summary(n, mean, math.nan, math.nan, math.nan, confidence)
    std = float(array.std(ddof=1))
    sem = std / math.sqrt(n)
    t = float(scipy_stats.t.ppf(0.5 + confidence / 2, df=n - 1))
    return Summary(n, mean, std, sem, t * sem, confidence)


def welch_p_value(group_a: Iterable[float], group_b: Iterable[float]) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances) that the two means are equal.

    NaN when either group has fewer than two runs or both have zero variance.
    """
    a = np.asarray(list(group_a), dtype=np.float64)
    b = np.asarray(list(group_b), dtype=np.float64)
    if a.size < 2 or b.size < 2:
        return math.nan
    if a.std() == 0 and b.std() == 0:
        return math.nan
    with warnings.catch_warnings():  # nearly identical runs: scipy warns, the p-value stands
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(scipy_stats.ttest_ind(a, b, equal_var=False).pvalue)


def format_mean_spread(summary: Summary, digits: int = 2, scale: float = 1.0) -> str:
    """``"97.31 ± 0.50"`` (mean ± CI half width), or just the mean when there is one run."""
    mean = f"{summary.mean * scale:.{digits}f}"
    if math.isnan(summary.ci_half_width):
        return mean
    return f"{mean} ± {summary.ci_half_width * scale:.{digits}f}"


def label(title: str, config_name: str, separator: str = " ") -> str:
    """``title`` marked with its config; a reduced config says it is not the paper's protocol.

    ``separator="\n"`` puts the mark on its own line (figure titles).
    """
    if config_name == PAPER_CONFIG:
        return f"{title}{separator}[paper protocol]"
    return (
        f"{title}{separator}[{config_name.upper()} run: reduced protocol, not the paper's numbers]"
    )


def stats_columns(summary: Summary) -> dict[str, float]:
    """A summary as numeric table columns: n, mean, std, ci95_low, ci95_high."""
    percent = round(100 * summary.confidence)
    return {
        "n": summary.n,
        "mean": summary.mean,
        "std": summary.std,
        f"ci{percent}_low": summary.ci_low,
        f"ci{percent}_high": summary.ci_high,
    }


def results_dir(experiment: str, config_name: str, root: str = "results") -> str:
    """``<root>/<experiment>/<config_name>/``, created if missing."""
    for name, value in (("experiment", experiment), ("config_name", config_name)):
        if not value or os.sep in value or value in (".", ".."):
            raise ValueError(f"{name} must be a plain directory name, got {value!r}")
    path = os.path.join(root, experiment, config_name)
    os.makedirs(path, exist_ok=True)
    return path


def write_csv(rows: Sequence[Mapping[str, Any]], path: str) -> str:
    """Write ``rows`` (dicts; columns in first-seen order) as CSV and return the path."""
    if not rows:
        raise ValueError(f"no rows to write to {path}")
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _plain(value) for key, value in row.items()})
    return path


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A GitHub Markdown table (cells as strings), preceded by ``title`` as a heading if given."""
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"row {list(row)} has {len(row)} cells; expected {len(columns)}")
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


def write_table(
    directory: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str,
    config_name: str,
    csv_rows: Sequence[Mapping[str, Any]] | None = None,
    name: str = "table",
) -> tuple[str, str]:
    """Write ``<name>.md`` (labelled title + table) and ``<name>.csv``; return the two paths.

    The CSV holds ``csv_rows`` (e.g. numeric statistics, see :func:`stats_columns`) or, without
    them, the table's cells; either way its first column, ``config``, names the config.
    """
    md_path = os.path.join(directory, f"{name}.md")
    with open(md_path, "w") as file:
        file.write(markdown_table(columns, rows, label(title, config_name)))
    if csv_rows is None:
        csv_rows = [dict(zip(columns, row, strict=True)) for row in rows]
    csv_rows = [{"config": config_name, **row} for row in csv_rows]
    csv_path = write_csv(csv_rows, os.path.join(directory, f"{name}.csv"))
    return md_path, csv_path


def plot_with_spread(
    ax: Axes,
    x: Sequence[float],
    samples: Sequence[Sequence[float]],
    *,
    label: str,
    spread: str = "ci",
    **line_options: Any,
) -> None:
    """Plot the mean of ``samples[i]`` (the runs at ``x[i]``) with a shaded spread band.

    ``spread`` is "ci" (95% Student-t confidence interval) or "std" (± one standard deviation);
    no band is drawn where a point has a single run.
    """
    if spread not in SPREADS:
        raise ValueError(f"spread={spread!r} is not valid; valid choices: {', '.join(SPREADS)}")
    if len(x) != len(samples):
        raise ValueError(f"{len(x)} x values but {len(samples)} groups of samples")
    summaries = [summarize(values) for values in samples]
    means = np.array([s.mean for s in summaries])
    widths = np.array([s.ci_half_width if spread == "ci" else s.std for s in summaries])
    (line,) = ax.plot(x, means, marker="o", label=label, **line_options)
    ax.fill_between(x, means - widths, means + widths, color=line.get_color(), alpha=0.2)


def save_figure(figure: Figure, directory: str, name: str = "figure") -> str:
    """Save ``figure`` as ``<directory>/<name>.png`` (150 dpi), close it, return the path."""
    path = os.path.join(directory, f"{name}.png")
    figure.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(figure)
    return path


def write_summary(directory: str, lines: Sequence[str], *, title: str, config_name: str) -> str:
    """Print the labelled summary and save it as ``<directory>/summary.md``; return the path."""
    text = "\n".join([f"## {label(title, config_name)}", "", *lines]) + "\n"
    path = os.path.join(directory, "summary.md")
    with open(path, "w") as file:
        file.write(text)
    print(text, flush=True)
    return path


def publish(
    directory: str,
    rows: Sequence[Mapping[str, Any]],
    table: tuple[Sequence[str], Sequence[Sequence[Any]], Sequence[Mapping[str, Any]] | None],
    figure: Figure,
    summary: Sequence[str],
    *,
    title: str,
    config_name: str,
) -> str:
    """Write an experiment's outputs into ``directory``: the per-run metrics (runs.csv), the table
    (``table`` = columns, cells, numeric CSV rows), the figure and the summary; return the summary
    path."""
    write_csv(rows, os.path.join(directory, "runs.csv"))
    columns, cells, numeric = table
    table_md, _ = write_table(
        directory, columns, cells, title=title, config_name=config_name, csv_rows=numeric
    )
    figure_path = save_figure(figure, directory)
    return write_summary(
        directory,
        [*summary, f"- table: {table_md}", f"- figure: {figure_path}"],
        title=title,
        config_name=config_name,
    )


def parse_config(argv: Sequence[str], default_config: str) -> ml_collections.ConfigDict:
    """The experiment config from ``argv`` (``argv[0]`` is the program name).

    ``--config <file.py>[:<variant>]`` picks the config (default ``default_config``) and
    ``--config.<key>=<value>`` overrides any key, nested ones too. Flags are parsed into a private
    flag registry, so several experiments can run in one process (the demo). absl's INFO logs
    (orbax logs every checkpoint) are silenced unless ``--verbosity`` is given.
    """
    registry = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config",
        default_config,
        "Experiment config: <file.py>[:<variant>].",
        registry,
        sys_argv=list(argv),  # where the --config.<key> overrides are looked up
    )
    unparsed = registry(list(argv), known_only=True)
    if len(unparsed) > 1:
        raise ValueError(
            f"unexpected arguments: {' '.join(unparsed[1:])}; use --config <file.py>[:<variant>] "
            "and --config.<key>=<value>"
        )
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    return registry.config


def run_with_absl(run: Callable[[ml_collections.ConfigDict], Any], config_help: str) -> None:
    """Run ``run(config)`` as an absl program taking ``--config <file.py>[:<variant>]`` and
    ``--config.<key>=<value>`` overrides (orbax's per-save INFO logs are silenced)."""
    config_flags.DEFINE_config_file("config", None, config_help)
    flags.mark_flags_as_required(["config"])

    def main(argv: list[str]) -> None:
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
        run(flags.FLAGS.config)

    app.run(main)


def enable_compilation_cache(root: str) -> None:
    """Keep compiled XLA programs in ``<root>/.xla_cache`` (unless a cache is already set).

    A sweep compiles one program per point, and the initialisation and evaluation programs of
    different activations are often identical: the cache makes repeated compilations, and reruns,
    cheap.
    """
    import jax

    if not jax.config.jax_compilation_cache_dir:
        jax.config.update(
            "jax_compilation_cache_dir", os.path.abspath(os.path.join(root, ".xla_cache"))
        )
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def run_main(main: Callable[[list[str]], Any]) -> None:
    """Run ``main(sys.argv)`` as a program; a missing data set is a clear error (exit status 2)."""
    from nish_jax.data import DataNotFoundError

    try:
        main(sys.argv)
    except DataNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers, so the CSV holds plain numbers."""
    return value.item() if hasattr(value, "item") else value
