"""From a config to the objects a run is made of: data, model, preprocessing, optimiser."""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import TYPE_CHECKING

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from nish_jax.data import Dataset, load
from nish_jax.data.augment import Preprocess, make_preprocess
from nish_jax.models import create_model
from nish_jax.train import sharding
from nish_jax.train.optim import learning_rate_schedule, make_optimizer
from nish_jax.train.pretrained import init_from_file
from nish_jax.train.state import TrainState, init_state, run_keys

if TYPE_CHECKING:
    import ml_collections

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
# The split evaluated as "test" where a data set names it otherwise.
_TEST_SPLITS = {"imagenet100": "val"}


def load_split(config: ml_collections.ConfigDict, split: str) -> Dataset:
    """The train or test split named by the config, cut to its ``<split>_subset`` if nonzero."""
    options = {}
    if config.dataset == "imagenet100" and config.augmentation.image_size:
        options["image_size"] = config.augmentation.image_size
    name = _TEST_SPLITS.get(config.dataset, split) if split == "test" else split
    dataset = load(config.dataset, name, data_dir=config.data_dir or None, **options)
    size = config[f"{split}_subset"]
    return dataset.subset(size) if size else dataset


def build_model(config: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
    options = config.model_options.to_dict()
    return create_model(
        config.model,
        num_classes=num_classes,
        act=config.act or None,
        dtype=_DTYPES[config.dtype],
        **options,
    )


def build_preprocess(config: ml_collections.ConfigDict, dataset: Dataset) -> Preprocess:
    """Augmentation and ``train_noise_std`` noise for training, plain normalisation for
    evaluation (its noise is added by the evaluation step, per test example)."""
    augmentation = config.augmentation
    size = augmentation.image_size
    return make_preprocess(
        mean=dataset.mean,
        std=dataset.std,
        crop_padding=augmentation.crop_padding,
        hflip=augmentation.hflip,
        vflip=augmentation.vflip,
        image_size=size if size and size != dataset.image_shape[0] else None,
        noise_std=config.train_noise_std,
        eval_noise_std=0.0,
    )


def input_shape(config: ml_collections.ConfigDict, dataset: Dataset) -> tuple[int, int, int]:
    """The shape the model sees: the data's own, or resized to augmentation.image_size."""
    height, width, channels = dataset.image_shape
    size = config.augmentation.image_size
    return (size, size, channels) if size else (height, width, channels)


@dataclasses.dataclass(frozen=True)
class TrainingSetup:
    """Everything fixed for the whole run, derived once from the config."""

    config: ml_collections.ConfigDict
    mesh: Mesh
    train_data: Dataset
    test_data: Dataset
    model: nn.Module
    preprocess: Preprocess
    schedule: optax.Schedule
    optimizer: optax.GradientTransformation
    steps_per_epoch: int

    @property
    def total_steps(self) -> int:
        return self.config.num_epochs * self.steps_per_epoch

    def initial_state(self) -> TrainState:
        """All runs' initial states, stacked on the runs axis and replicated over the mesh."""
        init = partial(
            init_state,
            model=self.model,
            optimizer=self.optimizer,
            input_shape=input_shape(self.config, self.train_data),
        )
        keys = run_keys(self.config.seed, self.config.num_runs)
        replicated = sharding.replicated(self.mesh)
        state = jax.jit(jax.vmap(init), out_shardings=replicated)(keys)
        if self.config.init_from:
            state = init_from_file(state, self.config.init_from, replicated)
        return state


def build_setup(config: ml_collections.ConfigDict, mesh: Mesh) -> TrainingSetup:
    train_data = load_split(config, "train")
    test_data = load_split(config, "test")
    steps_per_epoch = train_data.num_batches(config.batch_size)
    schedule = learning_rate_schedule(config, steps_per_epoch)
    return TrainingSetup(
        config=config,
        mesh=mesh,
        train_data=train_data,
        test_data=test_data,
        model=build_model(config, train_data.num_classes),
        preprocess=build_preprocess(config, train_data),
        schedule=schedule,
        optimizer=make_optimizer(config, schedule),
        steps_per_epoch=steps_per_epoch,
    )
