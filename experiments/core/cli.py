"""The command line of the experiments (``python -m experiments``) and of ``experiments.train``.

    python -m experiments                                  # the experiments, one a line
    python -m experiments <experiment> --help              # its variants and config keys
    python -m experiments <experiment> --config=<variant> --config.<key>=<value> ...

``--config`` names a variant of the experiment's registered config (or any config file,
``<file.py>[:<variant>]``); overrides reach any key, nested ones too. An unknown experiment,
variant or key is a one-line error that lists the valid choices. Errors a user can fix (missing
data, a run directory that belongs to another config or is busy, a bad value) are one message and
exit status 2; Ctrl-C exits with 130 after the engine saved a checkpoint; a ``run`` that returns
an int (``experiments.train``: 1 when a run diverged) exits with it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

HELP_FLAGS = ("-h", "--help", "--helpshort", "--helpfull")


class UsageError(ValueError):
    """A command line that names an unknown experiment, variant or config key."""


def load_config(spec: str) -> tuple[Any, ml_collections.ConfigDict]:
    """The config module of ``<file.py>[:<variant>]`` and the config it returns."""
    path, _, variant = spec.partition(":")
    if not os.path.isfile(path):
        raise UsageError(f"config file {path!r} does not exist")
    loader = importlib.util.spec_from_file_location("_config_of_command_line", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    variants = getattr(module, "VARIANTS", None)
    if variants is not None and variant not in variants:
        valid = ", ".join(repr(v) for v in variants)
        raise UsageError(f"unknown variant {variant!r} of {path}; valid: {valid}")
    return module, (module.get_config(variant) if variant else module.get_config())


def config_keys(config: ml_collections.ConfigDict, prefix: str = "") -> dict[str, Any]:
    """Every leaf key of ``config`` (dotted) with its value."""
    keys = {}
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            keys.update(config_keys(value, f"{prefix}{key}."))
        else:
            keys[f"{prefix}{key}"] = value
    return keys


def check_overrides(config: ml_collections.ConfigDict, argv: Sequence[str]) -> None:
    """A UsageError naming the first ``--config.<key>`` that the config does not have."""
    keys = config_keys(config)
    for arg in argv:
        if arg.startswith("--config."):
            key = arg[len("--config.") :].split("=", 1)[0]
            if key not in keys:
                raise UsageError(f"unknown config key {key!r}; valid keys: {', '.join(keys)}")


def describe(title: str, module: Any, spec: str, config: ml_collections.ConfigDict) -> str:
    """The help text: what the config says of itself, its variants and its keys' defaults."""
    lines = [title, "", (module.__doc__ or "").strip(), ""]
    if getattr(module, "VARIANTS", None):
        lines.append(f"Variants (--config=<variant>): {', '.join(module.VARIANTS)}")
    lines += [f"Config keys (--config.<key>=<value>), defaults of {spec}:"]
    lines += [f"  {key} = {value!r}" for key, value in config_keys(config).items()]
    return "\n".join(lines)


def run_program(
    run: Callable[[ml_collections.ConfigDict], Any],
    spec: str,
    argv: Sequence[str],
    title: str = "",
) -> None:
    """Run ``run(config)`` as an absl program whose ``--config`` defaults to ``spec``
    (``<file.py>[:<variant>]``), after checking the command line's variant and keys."""
    argv = list(argv)
    given = _config_argument(argv)
    if given is not None:  # a variant of the default file, or another file
        spec = given if ".py" in given else f"{spec.partition(':')[0]}:{given}"
    try:
        module, config = load_config(spec)
        if any(arg in HELP_FLAGS for arg in argv[1:]):
            print(describe(title or argv[0], module, spec, config))
            sys.exit(0)
        check_overrides(config, argv[1:])
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    config_flag = config_flags.DEFINE_config_file(
        "config", spec, "Config: <file.py>[:<variant>].", lock_config=True
    )

    def program(args: list[str]) -> None:
        if len(args) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(args[1:])}")
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint at INFO
        sys.exit(guarded(run, config_flag.value))

    app.run(program, argv=[argv[0], f"--config={spec}", *argv[1:]])


def _config_argument(argv: list[str]) -> str | None:
    """The value of ``--config=<spec>`` or ``--config <spec>`` (removed from ``argv``)."""
    for index, arg in enumerate(argv):
        if arg.startswith("--config="):
            del argv[index]
            return arg.split("=", 1)[1]
        if arg == "--config" and index + 1 < len(argv):
            value = argv[index + 1]
            del argv[index : index + 2]
            return value
    return None


def guarded(
    run: Callable[[ml_collections.ConfigDict], Any], config: ml_collections.ConfigDict
) -> int:
    """``run(config)``, with a user's errors turned into one message and an exit status."""
    from nish_jax.data import DataNotFoundError
    from nish_jax.train import WorkdirBusyError, WorkdirMismatchError

    try:
        outcome = run(config)
    except (DataNotFoundError, WorkdirBusyError, WorkdirMismatchError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return outcome if isinstance(outcome, int) else 0
