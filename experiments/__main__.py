"""``python -m experiments <experiment> [--config=<variant>] [--config.<key>=<value> ...]``.

The one entry point of every experiment in :mod:`experiments.registry`; see
:mod:`experiments.core.cli` for the options and exit statuses.
"""

from __future__ import annotations

import sys

from experiments import registry
from experiments.core import cli


def main(argv: list[str]) -> None:
    """Run the experiment ``argv[1]`` names with the rest of the command line."""
    if len(argv) < 2 or argv[1].startswith("-"):
        listing = "\n".join(f"  {spec.name:<18} {spec.title}" for spec in registry.EXPERIMENTS)
        print(f"usage: python -m experiments <experiment> [--help] [--config=<variant>] "
              f"[--config.<key>=<value> ...]\nexperiments:\n{listing}")  # fmt: skip
        sys.exit(0 if set(argv[1:]) & set(cli.HELP_FLAGS) else 2)
    try:
        spec = registry.get(argv[1])
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    cli.run_program(
        spec.run,
        f"{spec.config_file}:{spec.default_variant}",
        [f"experiments {spec.name}", *argv[2:]],
        title=f"python -m experiments {spec.name}: {spec.title}",
    )


if __name__ == "__main__":
    main(sys.argv)
