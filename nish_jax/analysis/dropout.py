"""The variance shift of dropout before BatchNorm, compounded over depth, in mean field.

Li et al. (CVPR 2019, "Understanding the disharmony between dropout and batch normalization by
variance shift") show that dropout makes a unit's variance larger in training than at test time,
so BatchNorm's running statistics, gathered in training, mis-scale its input at test time. In a
stack of ``Dense -> BatchNorm -> phi -> Dropout(rate)`` blocks the shift compounds, and how fast
depends on the activation. :func:`dropout_variance_shift` follows it layer by layer.

The model: wide layers, weights independent with mean 0 (as at initialisation), BatchNorm's
scale 1 and bias 0, and running statistics equal to the statistics of the training batches
(dropout on), as after training has filled them. In training, BatchNorm hands ``phi`` a unit
Gaussian ``z``, and inverted dropout with keep probability ``p = 1 - rate`` turns ``phi(z)``
into ``phi(z) m / p``, of the same mean and of variance ``D = Var phi(z) + (1/p - 1)
E[phi(z)^2]``; the next Dense layer's running variance is ``D`` times the squared weights. At
test time (no dropout, the running statistics), unit ``i`` of BatchNorm ``l`` hands ``phi`` the
Gaussian ``delta_i + sqrt(r_l) z``: ``r_l`` is its input-dependent variance (the signal, 1 in
training) and ``delta_i`` a constant offset, spread over the units with variance ``s_l`` (0 in
training). With ``g(delta) = E[phi(delta + sqrt(r) z)]`` and ``delta ~ N(0, s)``:

    r_{l+1} = (E[phi(x)^2], x ~ N(0, r + s),  -  E[g(delta)^2]) / D
    s_{l+1} = E[(g(delta) - E[phi(z)])^2] / D

starting from ``r_1 = 1, s_1 = 0``: the first BatchNorm reads the data, with no dropout before
it (the zoo MLP without a stem; its ``"origin"`` stem puts a dropout before the first Dense).
Each block multiplies the signal by :attr:`DropoutShift.factor`: about ``E[phi'(delta)^2] / D``
once the signal is small, so the activation's slope around 0, where the offsets put the units,
sets how fast the shift erodes it. ``signal + offset`` (:attr:`DropoutShift.total`) is what
:func:`nish_jax.analysis.signal_propagation` measures as the eval-mode over the train-mode
variance of an activation's input, for such a network (at initialisation Flax's running
statistics are 0 and 1, not those of the training batches: there is no shift to see yet).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from nish_jax.analysis.moments import activation_moments, gaussian_expectation

__all__ = ["DropoutShift", "dropout_variance_shift"]

Activation = Callable[[jax.Array], jax.Array]


class DropoutShift(NamedTuple):
    """Test-time statistics of each BatchNorm's output in units of the training-time ones.

    Attributes:
      signal: per block, the input-dependent variance ``r_l`` of a unit (1 in training).
      offset: per block, the variance ``s_l`` across units of their constant offsets (0 in
        training).
    """

    signal: jax.Array
    offset: jax.Array

    @property
    def total(self) -> jax.Array:
        """``signal + offset``: the variance of all of a BatchNorm's outputs at test time over
        that in training (the measured variance shift; module doc)."""
        return self.signal + self.offset

    @property
    def factor(self) -> jax.Array:
        """The signal's factor from each block to the next, shape ``(depth - 1,)``."""
        return self.signal[1:] / self.signal[:-1]


def dropout_variance_shift(
    act: Activation, rate: float, depth: int, *, kinks: Sequence[float] = (0.0,)
) -> DropoutShift:
    """The mean-field variance shift of each block of a ``Dense -> BatchNorm -> act ->
    Dropout(rate)`` stack (module doc).

    Args:
      act: the activation ``phi``.
      rate: the dropout rate after each block, in [0, 1).
      depth: the number of blocks (BatchNorms), at least 1.
      kinks: where ``act`` or its derivative jumps (:func:`nish_jax.analysis.activation_moments`).

    Returns:
      :class:`DropoutShift` with ``signal`` and ``offset`` of shape ``(depth,)``.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must be in [0, 1), got {rate!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
    moments = activation_moments(act, kinks=kinks)
    spread = moments.variance + rate / (1.0 - rate) * moments.second_moment

    def block(carry: tuple[jax.Array, jax.Array], _: None):
        signal, offset = carry

        def mean_output(delta: jax.Array) -> jax.Array:
            one = lambda d: gaussian_expectation(act, d, signal, kinks=kinks)  # noqa: E731
            return jax.vmap(one)(delta.ravel()).reshape(delta.shape)

        second = gaussian_expectation(
            lambda x: jnp.square(act(x)), 0.0, signal + offset, kinks=kinks
        )
        squared_mean = gaussian_expectation(
            lambda d: jnp.square(mean_output(d)), 0.0, offset, kinks=()
        )
        deviation = gaussian_expectation(
            lambda d: jnp.square(mean_output(d) - moments.mean), 0.0, offset, kinks=()
        )
        following = ((second - squared_mean) / spread, deviation / spread)
        return following, following

    first = (jnp.ones_like(spread), jnp.zeros_like(spread))
    _, (signals, offsets) = jax.lax.scan(block, first, None, length=depth - 1)
    return DropoutShift(
        jnp.concatenate([first[0][None], signals]),
        jnp.concatenate([first[1][None], offsets]),
    )
