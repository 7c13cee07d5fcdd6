"""The airbench94 training recipe in JAX: compiled training steps on device-resident data.

Keller Jordan's "94% on CIFAR-10 in 3.29 seconds on a single GPU" recipe (airbench94: 94.01% mean
with test-time augmentation, 3.83 s on an A100), for the network of
:mod:`experiments.cifar10.airbench`:

- batch 1024 (the last partial batch dropped), ``ceil(steps_per_epoch * 9.9)`` steps over
  ``ceil(9.9)`` epochs; the label-smoothed (0.2) cross-entropy summed over the batch;
- Nesterov SGD (:func:`nesterov_sgd`, in optax), momentum 0.85, the learning rate 11.5 and
  weight decay 0.0153 "per 1024 examples" (both divided by ``1024 * (1 + 1 / (1 - momentum))``;
  the decay added to the gradient before the momentum, with the same per-step strength for every
  parameter); BatchNorm biases at 64 times the learning rate; the rate scaled by a piecewise
  linear schedule 0.2 -> 1 (at 23% of the steps) -> 0.07; the whitening bias trained for the
  first 3 epochs, then frozen;
- lookahead (airbench94's own variant of a weight average, not an EMA kept aside for testing):
  from epoch 3, every 5 steps the average moves to ``rho * average + (1 - rho) * weights`` with
  ``rho = 0.95**5 * (step / steps)**3`` and the weights are reset to it (BatchNorm statistics
  included); at the end of every epoch the weights are reset to the average once more;
- augmentation: a random crop of the reflect-padded (2 pixels) image, new every epoch, and the
  alternating flip: a random half of the images is flipped in even epochs and the other half in
  odd ones, so each image is seen both ways in every two consecutive epochs;
- test-time augmentation (level 2): the average of the logits of 6 views (the image and its
  mirror, at no shift weighted 1/2 and at one-pixel shifts up-left and down-right 1/4 each).

Everything a seed decides (initial weights, data order, crops, flips) comes from ``seed`` alone,
through ``fold_in``, so run s of every activation sees exactly the same data. :class:`Programs`
compiles the programs of one activation (init, an epoch's plan, a training step, the end of an
epoch, test logits) once, for a group of seeds trained side by side (vmapped); :func:`train_seeds`
runs them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import special

from experiments.cifar10.airbench import Airbench, whitening_kernel
from nish_jax.activations import Activation

# fold_in tags of the random streams one seed drives.
_INIT, _DATA = 0, 1
_ORDER, _CROP, _FLIP = 0, 1, 2
EVAL_CHUNK = 2000  # the most test images evaluated at once (a divisor of the test set's size)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The network widths and training hyperparameters; airbench94's are the study config's
    ``AIRBENCH94`` (experiments/cifar10/configs/cifar10_study.py, where each is explained)."""

    widths: tuple[int, int, int]
    batch_size: int
    train_epochs: float
    lr: float
    momentum: float
    weight_decay: float
    bias_scaler: float
    label_smoothing: float
    lr_start: float
    lr_peak_fraction: float
    lr_end: float
    whiten_bias_epochs: int
    lookahead_start_epoch: int
    lookahead_decay: float
    lookahead_power: float
    lookahead_every: int
    translate: int
    whitening_images: int
    whitening_eps: float

    def steps_per_epoch(self, num_train: int) -> int:
        if num_train < self.batch_size:
            raise ValueError(
                f"batch_size={self.batch_size} is larger than the {num_train} training images"
            )
        return num_train // self.batch_size

    def total_steps(self, num_train: int) -> int:
        return math.ceil(self.steps_per_epoch(num_train) * self.train_epochs)

    @property
    def num_epochs(self) -> int:
        return math.ceil(self.train_epochs)


@flax.struct.dataclass
class DeviceData:
    """Everything the programs read, on the device: the training images padded for the crops,
    the test images (uint8), labels, the normalisation and the whitening kernel."""

    train_padded: jax.Array
    train_labels: jax.Array
    test_images: jax.Array
    test_labels: jax.Array
    mean: jax.Array
    std: jax.Array
    whitening: jax.Array

    @property
    def num_train(self) -> int:
        return int(self.train_labels.shape[0])


def put_on_device(
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    mean: Sequence[float],
    std: Sequence[float],
    recipe: Recipe,
) -> DeviceData:
    """``(uint8 NHWC images, labels)`` of both splits on the device, and the whitening kernel from
    the first ``recipe.whitening_images`` training images (the same for every seed)."""
    mean = jnp.asarray(mean, jnp.float32)
    std = jnp.asarray(std, jnp.float32)
    images = jnp.asarray(train[0])
    pad = recipe.translate
    kernel, _ = whitening_kernel(
        normalize(images[: recipe.whitening_images], mean, std, jnp.float32),
        recipe.whitening_eps,
    )
    return DeviceData(
        train_padded=jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect"),
        train_labels=jnp.asarray(train[1], jnp.int32),
        test_images=jnp.asarray(test[0]),
        test_labels=jnp.asarray(test[1], jnp.int32),
        mean=mean,
        std=std,
        whitening=jnp.asarray(kernel),
    )


def normalize(images: jax.Array, mean: jax.Array, std: jax.Array, dtype: Any) -> jax.Array:
    """uint8 images to standardised ``dtype`` ones (per-channel mean and std on [0, 1])."""
    return ((images.astype(jnp.float32) / 255.0 - mean) / std).astype(dtype)


def flip_mask(key: jax.Array, num_images: int, epoch: jax.Array) -> jax.Array:
    """Which images are mirrored in ``epoch``: a random half, and the other half next epoch."""
    first = jax.random.bernoulli(jax.random.fold_in(key, _FLIP), 0.5, (num_images,))
    return first ^ (epoch % 2 == 1)


def crop_and_flip(
    padded: jax.Array, shifts: jax.Array, flips: jax.Array, translate: int
) -> jax.Array:
    """Each padded image cropped at its ``(dy, dx)`` shift, mirrored where ``flips`` says."""
    height, width = padded.shape[1] - 2 * translate, padded.shape[2] - 2 * translate

    def crop(image: jax.Array, shift: jax.Array) -> jax.Array:
        return jax.lax.dynamic_slice(
            image, (shift[0], shift[1], 0), (height, width, image.shape[-1])
        )

    images = jax.vmap(crop)(padded, shifts)
    return jnp.where(flips[:, None, None, None], images[:, :, ::-1], images)


def learning_rate_factor(step: jax.Array, total_steps: int, recipe: Recipe) -> jax.Array:
    """The schedule: ``lr_start`` -> 1 at ``lr_peak_fraction`` of the steps -> ``lr_end``."""
    peak = int(recipe.lr_peak_fraction * total_steps)
    return jnp.interp(
        step, jnp.array([0, peak, total_steps]), jnp.array([recipe.lr_start, 1.0, recipe.lr_end])
    )


def _is_norm_bias(path: tuple) -> bool:
    return any("BatchNorm" in str(getattr(entry, "key", entry)) for entry in path)


def _is_whitening_bias(path: tuple) -> bool:
    return any(getattr(entry, "key", None) == "whitening_bias" for entry in path)


def _group(path: tuple, _param: Any) -> str:
    if _is_whitening_bias(path):
        return "whitening_bias"
    return "norm_bias" if _is_norm_bias(path) else "other"


def nesterov_sgd(
    recipe: Recipe, steps_per_epoch: int, total_steps: int
) -> optax.GradientTransformation:
    """airbench94's optimiser in optax: PyTorch's Nesterov SGD with two parameter groups.

    The rate and the decay are the recipe's "per 1024 examples", divided by
    ``1024 * (1 + 1 / (1 - momentum))``; BatchNorm biases step at ``bias_scaler`` times the rate.
    Each group adds ``decay / its rate`` times the weights to the gradient before the momentum
    (PyTorch's ``weight_decay`` as airbench94 sets it: every parameter decays by the same amount
    per step) and steps by its rate times :func:`learning_rate_factor`. The whitening bias stops
    moving after ``whiten_bias_epochs``.
    """
    kilostep = 1024 * (1 + 1 / (1 - recipe.momentum))
    lr = recipe.lr / kilostep
    decay = recipe.weight_decay * recipe.batch_size / kilostep
    frozen_from = recipe.whiten_bias_epochs * steps_per_epoch

    def group(rate: float, freeze: bool = False) -> optax.GradientTransformation:
        def scale(count: jax.Array) -> jax.Array:
            step = -rate * learning_rate_factor(count, total_steps, recipe)
            return jnp.where(count < frozen_from, step, 0.0) if freeze else step

        return optax.chain(
            optax.add_decayed_weights(decay / rate),
            optax.trace(decay=recipe.momentum, nesterov=True),
            optax.scale_by_schedule(scale),
        )

    return optax.multi_transform(
        {
            "norm_bias": group(lr * recipe.bias_scaler),
            "whitening_bias": group(lr, freeze=True),
            "other": group(lr),
        },
        lambda params: jax.tree_util.tree_map_with_path(_group, params),
    )


@flax.struct.dataclass
class RunState:
    """One run's weights, BatchNorm statistics, optimiser state, lookahead average and step."""

    params: Any
    batch_stats: Any
    opt_state: Any
    average_params: Any
    average_stats: Any
    averaging: jax.Array  # whether the lookahead average exists yet
    step: jax.Array


class Programs:
    """The jitted programs of one activation over a group of seeds trained side by side (a leading
    seeds axis): ``init(seeds)``, ``plan(seeds, epoch, data)`` (an epoch's batches, crops and
    flips), ``step(states, plans, index, epoch, data)``, ``end_epoch(states)`` and
    ``test_logits(states, start, data)``, and :meth:`evaluate`. Each compiles once; the host
    loops over the steps and test chunks (XLA's CPU backend runs convolutions inside a compiled
    loop many times slower, jax issue #12868)."""

    def __init__(self, act: Activation, recipe: Recipe, data: DeviceData, compute_dtype: Any):
        self.recipe = recipe
        self.model = Airbench(act, tuple(recipe.widths), dtype=compute_dtype)
        self.compute_dtype = compute_dtype
        self.steps_per_epoch = recipe.steps_per_epoch(data.num_train)
        self.total_steps = recipe.total_steps(data.num_train)
        self.num_test = int(data.test_labels.shape[0])
        self.eval_chunk = max(
            d for d in range(1, min(self.num_test, EVAL_CHUNK) + 1) if self.num_test % d == 0
        )
        self.optimizer = nesterov_sgd(recipe, self.steps_per_epoch, self.total_steps)
        self.init = jax.jit(jax.vmap(self._init))
        self.plan = jax.jit(jax.vmap(self._plan, in_axes=(0, None, None)))
        self.step = jax.jit(
            jax.vmap(self._step, in_axes=(0, 0, None, None, None)), donate_argnums=(0,)
        )
        self.end_epoch = jax.jit(jax.vmap(self._end_epoch), donate_argnums=(0,))
        self.test_logits = jax.jit(jax.vmap(self._test_logits, in_axes=(0, None, None)))

    def _variables(self, params: Any, batch_stats: Any, data: DeviceData) -> dict[str, Any]:
        return {
            "params": params,
            "batch_stats": batch_stats,
            "whitening": {"kernel": data.whitening},
        }

    def _init(self, seed: jax.Array) -> RunState:
        key = jax.random.fold_in(jax.random.key(seed), _INIT)
        variables = self.model.init(key, jnp.zeros((1, 32, 32, 3), self.compute_dtype))
        params, stats = variables["params"], variables["batch_stats"]
        return RunState(
            params=params,
            batch_stats=stats,
            opt_state=self.optimizer.init(params),
            average_params=params,
            average_stats=stats,
            averaging=jnp.array(False),
            step=jnp.array(0, jnp.int32),
        )

    def _lookahead(self, state: RunState, epoch: jax.Array) -> RunState:
        """Start or update the average every ``lookahead_every`` steps and reset the weights."""
        recipe = self.recipe
        due = (epoch >= recipe.lookahead_start_epoch) & (state.step % recipe.lookahead_every == 0)
        progress = state.step / self.total_steps
        rho = recipe.lookahead_decay**recipe.lookahead_every * progress**recipe.lookahead_power
        start, blend = due & ~state.averaging, due & state.averaging

        def average(old, new):
            return jnp.where(start, new, jnp.where(blend, rho * old + (1 - rho) * new, old))

        average_params = jax.tree.map(average, state.average_params, state.params)
        average_stats = jax.tree.map(average, state.average_stats, state.batch_stats)
        reset = lambda avg, new: jnp.where(blend, avg, new)  # noqa: E731
        return state.replace(
            params=jax.tree.map(reset, average_params, state.params),
            batch_stats=jax.tree.map(reset, average_stats, state.batch_stats),
            average_params=average_params,
            average_stats=average_stats,
            averaging=state.averaging | due,
        )

    def _train_step(
        self, state: RunState, images: jax.Array, labels: jax.Array, epoch: jax.Array, data
    ) -> tuple[RunState, jax.Array]:
        """One update on normalised ``images``; returns the new state and the mean loss."""

        def loss_fn(params):
            logits, updates = self.model.apply(
                self._variables(params, state.batch_stats, data),
                images,
                train=True,
                mutable=["batch_stats"],
            )
            targets = optax.smooth_labels(
                jax.nn.one_hot(labels, logits.shape[-1]), self.recipe.label_smoothing
            )
            return optax.softmax_cross_entropy(logits, targets).sum(), updates["batch_stats"]

        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        state = state.replace(
            params=optax.apply_updates(state.params, updates),
            batch_stats=stats,
            opt_state=opt_state,
            step=state.step + 1,
        )
        return self._lookahead(state, epoch), loss / labels.shape[0]

    def _plan(self, seed: jax.Array, epoch: jax.Array, data: DeviceData) -> dict[str, jax.Array]:
        """One epoch's data for one run: the batches' image indices, every image's crop shift
        and whether it is mirrored."""
        recipe, batch = self.recipe, self.recipe.batch_size
        count = data.num_train
        data_key = jax.random.fold_in(jax.random.key(seed), _DATA)
        epoch_key = jax.random.fold_in(data_key, epoch)
        order = jax.random.permutation(jax.random.fold_in(epoch_key, _ORDER), count)
        return {
            "batches": order[: self.steps_per_epoch * batch].reshape(-1, batch),
            "shifts": jax.random.randint(
                jax.random.fold_in(epoch_key, _CROP), (count, 2), 0, 2 * recipe.translate + 1
            ),
            "flips": flip_mask(data_key, count, epoch),
        }

    def _step(
        self,
        state: RunState,
        plan: dict[str, jax.Array],
        index: jax.Array,
        epoch: jax.Array,
        data: DeviceData,
    ) -> tuple[RunState, jax.Array]:
        """Training step ``index`` of ``epoch``, its batch augmented on the device."""
        indices = plan["batches"][index]
        images = crop_and_flip(
            data.train_padded[indices],
            plan["shifts"][indices],
            plan["flips"][indices],
            self.recipe.translate,
        )
        images = normalize(images, data.mean, data.std, self.compute_dtype)
        return self._train_step(state, images, data.train_labels[indices], epoch, data)

    def _end_epoch(self, state: RunState) -> RunState:
        """The weights reset to the lookahead average, once it exists."""
        reset = lambda avg, new: jnp.where(state.averaging, avg, new)  # noqa: E731
        return state.replace(
            params=jax.tree.map(reset, state.average_params, state.params),
            batch_stats=jax.tree.map(reset, state.average_stats, state.batch_stats),
        )

    def _test_logits(
        self, state: RunState, start: jax.Array, data: DeviceData
    ) -> tuple[jax.Array, jax.Array]:
        """The logits of the test images ``start .. start + eval_chunk``: of the plain image
        and with the recipe's test-time augmentation."""
        variables = self._variables(state.params, state.batch_stats, data)

        def logits_of(images):
            return self.model.apply(variables, images, train=False)

        def mirrored(images):
            return 0.5 * logits_of(images) + 0.5 * logits_of(images[:, :, ::-1])

        images = jax.lax.dynamic_slice_in_dim(data.test_images, start, self.eval_chunk)
        x = normalize(images, data.mean, data.std, self.compute_dtype)
        padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
        shifted = [padded[:, :-2, :-2], padded[:, 2:, 2:]]
        tta = 0.5 * mirrored(x) + 0.25 * sum(mirrored(view) for view in shifted)
        return logits_of(x), tta

    def evaluate(self, states: RunState, data: DeviceData) -> dict[str, np.ndarray]:
        """Per seed: test accuracy with and without test-time augmentation, and the test loss
        (plain cross-entropy of the un-augmented logits). The host loops over chunks of the
        test set (one compiled program, no compiled loop: see the class doc)."""
        chunks = [
            self.test_logits(states, jnp.int32(start), data)
            for start in range(0, self.num_test, self.eval_chunk)
        ]
        plain = np.concatenate([np.asarray(p, np.float64) for p, _ in chunks], axis=1)
        tta = np.concatenate([np.asarray(t) for _, t in chunks], axis=1)
        labels = np.asarray(data.test_labels)
        log_probabilities = special.log_softmax(plain, axis=-1)
        true_class = np.take_along_axis(log_probabilities, labels[None, :, None], -1)[..., 0]
        return {
            "test_top1": (tta.argmax(-1) == labels).mean(-1),
            "test_top1_no_tta": (plain.argmax(-1) == labels).mean(-1),
            "test_loss": -true_class.mean(-1),
        }


def train_seeds(programs: Programs, seeds: Sequence[int], data: DeviceData) -> list[dict]:
    """Train the ``seeds`` side by side and evaluate them: one dict per seed with its test
    metrics, per-epoch mean training loss, and the wall time of each epoch (the first one
    includes compiling when this is the programs' first use)."""
    seed_array = jnp.asarray(seeds, jnp.int32)
    states = programs.init(seed_array)
    epoch_seconds, epoch_losses = [], []
    step = 0
    for epoch in range(programs.recipe.num_epochs):
        started = time.perf_counter()
        epoch_index = jnp.int32(epoch)
        plans = programs.plan(seed_array, epoch_index, data)
        losses = []
        for index in range(min(programs.steps_per_epoch, programs.total_steps - step)):
            states, loss = programs.step(states, plans, jnp.int32(index), epoch_index, data)
            losses.append(loss)
            step += 1
        states = programs.end_epoch(states)
        epoch_losses.append(np.mean(np.asarray(jnp.stack(losses, axis=1)), axis=1))
        epoch_seconds.append(time.perf_counter() - started)
    started = time.perf_counter()
    tests = programs.evaluate(states, data)
    evaluate_seconds = time.perf_counter() - started
    losses = np.stack(epoch_losses, axis=1)  # (seeds, epochs)
    return [
        {
            "seed": int(seed),
            **{name: float(values[i]) for name, values in tests.items()},
            "train_losses": losses[i].tolist(),
            "epoch_seconds": list(epoch_seconds),
            "evaluate_seconds": evaluate_seconds,
        }
        for i, seed in enumerate(seeds)
    ]
