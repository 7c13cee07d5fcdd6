"""Training configuration: the defaults every run starts from, their validation, and identity.

A config is an ``ml_collections.ConfigDict``; experiment files (experiments/configs/*.py) start
from :func:`get_config_defaults` and override what they need. :func:`validate_config` rejects a bad
value before anything is compiled, naming the key and the valid choices.

Identity: most keys change what a run computes; the :data:`BOOKKEEPING_KEYS` do not, and
``num_epochs`` does not change any step of a run whose schedule ignores the run's length (it only
says where to stop). :func:`fingerprint` hashes exactly the computation keys and
:func:`config_differences` lists what differs between two configs, so a run directory can hold one
configuration and a sweep can name each point's directory after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nish_jax.train._optional import import_train_dependency

if TYPE_CHECKING:
    import ml_collections

DATASETS = ("mnist", "fashion_mnist", "cifar10", "imagenet100")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine", "step", "warmup_cosine")
DTYPES = ("float32", "bfloat16")
# Keys that change no trained weight and no metric: where the data is read from, how the test set
# is batched (the test loss may differ in its last float bits, from the summation order), and
# when rows and checkpoints are written and how many are kept.
BOOKKEEPING_KEYS = (
    "data_dir",
    "eval_batch_size",
    "log_every_steps",
    "checkpoint_every_steps",
    "keep_checkpoints",
)
# Schedules whose rate at a step does not depend on num_epochs: a run with one of them can be
# extended (num_epochs raised) and the result equals a run trained that long from the start.
LENGTH_FREE_SCHEDULES = ("constant", "step")


class _Absent:
    """The value of a key one of two compared configs does not have."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT = _Absent()


def get_config_defaults() -> ml_collections.ConfigDict:
    """Every key the engine reads, with its default (see the comments for the meaning).

    Returns:
      A new ``ml_collections.ConfigDict``.

    Raises:
      ImportError: ml_collections is not installed (``pip install 'nish-jax[train]'``).
    """
    ml_collections = import_train_dependency("ml_collections", "get_config_defaults")
    config = ml_collections.ConfigDict()
    # Data.
    config.dataset = "mnist"
    config.data_dir = ""  # "" = the NISH_DATA_DIR search path
    config.train_subset = 0  # 0 = the whole split; n = a fixed class-balanced subset of n
    config.test_subset = 0
    # Model: nish_jax.models.create_model(model, act=act or the model's own, **model_options).
    config.model = "mlp"
    config.act = ""  # "" = the reference model's own activation
    config.model_options = ml_collections.ConfigDict()
    config.dtype = "float32"  # compute dtype; parameters stay float32
    # "" = random init; a .npz of variables to start from (nish_jax.train.pretrained): what it
    # lacks (e.g. a new classifier) keeps its random init. A resumed run uses its checkpoint.
    config.init_from = ""
    # Optimisation.
    config.batch_size = 128  # global batch per run, split over the devices
    config.eval_batch_size = 256
    config.num_epochs = 10
    config.optimizer = "sgd"
    config.learning_rate = 0.1
    config.momentum = 0.9
    config.nesterov = False
    # sgd: L2-style (decay * params added to the gradient before momentum);
    # adam: decoupled (AdamW). Either way only kernels (ndim > 1) are decayed.
    config.weight_decay = 0.0
    config.schedule = "constant"
    config.warmup_epochs = 0.0  # warmup_cosine: linear warmup length
    config.lr_decay_epochs = (30, 60, 90)  # step: epochs where the rate is multiplied by...
    config.lr_decay_factor = 0.1  # ...this factor
    config.label_smoothing = 0.0
    config.augmentation = ml_collections.ConfigDict(
        dict(crop_padding=0, hflip=False, vflip=False, image_size=0)  # image_size 0 = native
    )
    # Gaussian noise on the [0, 1] pixel scale: on every training batch (drawn from the run's
    # seed and the step, so every model with the same seed sees the same noise), and on the test
    # images (the same noisy test set for every run and epoch).
    config.train_noise_std = 0.0
    config.eval_noise_std = 0.0
    # Runs: num_runs seeds trained at once in one program (vmapped); run r uses seed + r.
    config.num_runs = 1
    config.seed = 0
    # Bookkeeping.
    config.checkpoint_every_steps = 1000  # 0 = only at the end of every epoch
    config.keep_checkpoints = 2
    config.log_every_steps = 50
    return config


def _choice(config: ml_collections.ConfigDict, key: str, choices: tuple[str, ...]) -> None:
    if config[key] not in choices:
        raise ValueError(
            f"config.{key}={config[key]!r} is not valid; valid choices: {', '.join(choices)}"
        )


def _integer(config: ml_collections.ConfigDict, key: str, minimum: int) -> None:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"config.{key} must be an integer >= {minimum}, got {value!r}")


def _number(config: ml_collections.ConfigDict, key: str, minimum: float, maximum: float) -> None:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"config.{key} must be a number, got {value!r}")
    if not minimum <= value <= maximum:
        raise ValueError(f"config.{key}={value!r} must be in [{minimum}, {maximum}]")


def validate_config(config: ml_collections.ConfigDict, num_devices: int | None = None) -> None:
    """Raise ValueError naming the first bad key (and its valid choices); check nothing else.

    ``num_devices`` (default: all of jax's devices) must divide both batch sizes.
    """
    from nish_jax.activations import list_activations
    from nish_jax.models import list_models

    unknown = sorted(set(config.keys()) - set(get_config_defaults().keys()))
    if unknown:
        raise ValueError(f"unknown config key(s): {', '.join(unknown)}")
    _choice(config, "dataset", DATASETS)
    _choice(config, "model", tuple(list_models()))
    _choice(config, "act", ("", *list_activations()))
    _choice(config, "optimizer", OPTIMIZERS)
    _choice(config, "schedule", SCHEDULES)
    _choice(config, "dtype", DTYPES)
    if not isinstance(config.init_from, str) or (
        config.init_from and not config.init_from.endswith(".npz")
    ):
        raise ValueError(
            f"config.init_from must be '' or the path of a .npz file, got {config.init_from!r}"
        )
    for key in ("train_subset", "test_subset", "checkpoint_every_steps"):
        _integer(config, key, 0)
    for key in ("batch_size", "eval_batch_size", "num_epochs", "num_runs", "keep_checkpoints"):
        _integer(config, key, 1)
    _integer(config, "log_every_steps", 1)
    _integer(config, "seed", 0)
    if not isinstance(config.nesterov, bool):
        raise ValueError(f"config.nesterov must be True or False, got {config.nesterov!r}")
    inf = float("inf")
    _number(config, "learning_rate", 0.0, inf)
    if config.learning_rate == 0:
        raise ValueError("config.learning_rate must be positive, got 0")
    _number(config, "momentum", 0.0, 1.0)
    _number(config, "weight_decay", 0.0, inf)
    _number(config, "warmup_epochs", 0.0, config.num_epochs)
    _number(config, "lr_decay_factor", 0.0, 1.0)
    _number(config, "label_smoothing", 0.0, 1.0)
    _number(config, "train_noise_std", 0.0, inf)
    _number(config, "eval_noise_std", 0.0, inf)
    augmentation = config.augmentation
    extra = sorted(set(augmentation.keys()) - {"crop_padding", "hflip", "vflip", "image_size"})
    if extra:
        raise ValueError(
            f"unknown config.augmentation key(s): {', '.join(extra)}; valid keys: "
            "crop_padding, hflip, vflip, image_size"
        )
    _integer(augmentation, "crop_padding", 0)
    _integer(augmentation, "image_size", 0)
    if num_devices is None:
        import jax

        num_devices = jax.device_count()
    for key in ("batch_size", "eval_batch_size"):
        if config[key] % num_devices:
            raise ValueError(
                f"config.{key}={config[key]} is not divisible by the {num_devices} devices; "
                f"use a multiple of {num_devices}"
            )


def flatten_config(config: ml_collections.ConfigDict | Mapping[str, Any]) -> dict[str, Any]:
    """A config flattened to dotted keys, so that a config and its config.json compare alike.

    Args:
      config: a ``ConfigDict`` or a plain nested mapping (a loaded config.json).

    Returns:
      ``{"dotted.key": value}``, values as JSON writes them back (tuples become lists).
    """
    plain = config.to_dict() if hasattr(config, "to_dict") else config  # a ConfigDict
    plain = json.loads(json.dumps(plain, default=list))
    flat: dict[str, Any] = {}

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                visit(f"{prefix}{key}.", item)
        else:
            flat[prefix[:-1]] = value

    visit("", plain)
    return flat


def changes_computation(key: str, config: ml_collections.ConfigDict | Mapping[str, Any]) -> bool:
    """Whether a different value of the dotted ``key`` changes what ``config``'s runs compute."""
    if key == "num_epochs":
        return config["schedule"] not in LENGTH_FREE_SCHEDULES
    return key not in BOOKKEEPING_KEYS


def fingerprint(config: ml_collections.ConfigDict | Mapping[str, Any]) -> str:
    """10 hex digits of the SHA-256 of the computation keys' canonical JSON: equal for configs
    whose runs compute the same thing, the same in every process and Python version."""
    computation = {
        key: value
        for key, value in flatten_config(config).items()
        if changes_computation(key, config)
    }
    canonical = json.dumps(computation, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def config_differences(
    stored: Mapping[str, Any], requested: ml_collections.ConfigDict
) -> list[tuple[str, Any, Any]]:
    """``(dotted key, stored value, requested value)`` for every key whose values differ, sorted
    by key; a key only one side has shows :data:`ABSENT` on the other."""
    old, new = flatten_config(stored), flatten_config(requested)
    return [
        (key, old.get(key, ABSENT), new.get(key, ABSENT))
        for key in sorted(old.keys() | new.keys())
        if old.get(key, ABSENT) != new.get(key, ABSENT)
    ]
