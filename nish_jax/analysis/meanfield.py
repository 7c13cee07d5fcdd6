"""Mean-field signal propagation in wide random networks (Poole et al. 2016, "Exponential
expressivity in deep neural networks through transient chaos"; Schoenholz et al. 2017, "Deep
information propagation").

A fully connected layer ``h = W phi(h_prev) + b`` with weights of variance ``sigma_w^2 / fan_in``
and biases of variance ``sigma_b^2`` maps the variance ``q`` of its pre-activations to
``V(q) = sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2`` (:func:`variance_map`), ``z ~ N(0, 1)``.
Deep in the network ``q`` settles at the fixed point ``q*`` (:func:`fixed_point`), where the
squared gradient norm grows per layer by ``chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]``
(:func:`chi1`): order for ``chi_1 < 1`` (vanishing gradients), chaos for ``chi_1 > 1``
(exploding), trainable at depth near ``chi_1 = 1``. :func:`chi1_grid` evaluates it on a grid.

:func:`backward_factor` is that per-layer growth at any variance ``q``: at ``q = 0`` it is the
linear-regime value ``sigma_w^2 phi'(0)^2`` of Glorot & Bengio's analysis (a network at
initialisation in eval mode, where BatchNorm with running statistics 0 and 1 is the identity).
:func:`batch_norm_backward_factor` is the per-layer growth with train-mode BatchNorm before each
activation: the pre-activations are unit Gaussians by construction and the weights' scale cancels,
leaving ``E[phi'(z)^2] / Var[phi(z)]``.

Moments come from :func:`nish_jax.analysis.activation_moments`, exact for an activation whose
kinks (0 by default) every function here takes as ``kinks=``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from nish_jax.analysis.moments import activation_moments, gaussian_expectation

__all__ = [
    "MAX_VAR",
    "MIN_VAR",
    "backward_factor",
    "batch_norm_backward_factor",
    "chi1",
    "chi1_grid",
    "fixed_point",
    "variance_map",
]

Activation = Callable[[jax.Array], jax.Array]

#: The range :func:`fixed_point` searches; a result at an end means no fixed point inside it.
MIN_VAR = 1e-12
MAX_VAR = 1e12
_BISECTION_STEPS = 60


def variance_map(
    act: Activation,
    q: ArrayLike,
    sigma_w: ArrayLike,
    sigma_b: ArrayLike,
    *,
    kinks: Sequence[float] = (0.0,),
) -> jax.Array:
    """``V(q) = sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2``, ``z ~ N(0, 1)``.

    Args:
      act: the activation ``phi``.
      q: the variance of the pre-activations entering the layer.
      sigma_w: the weights' standard deviation times ``sqrt(fan_in)``.
      sigma_b: the biases' standard deviation.
      kinks: where ``act`` or its derivative jumps (as in
        :func:`~nish_jax.analysis.activation_moments`; relu6: ``(0.0, 6.0)``).

    Returns:
      The variance of the next layer's pre-activations.
    """
    second_moment = gaussian_expectation(lambda h: jnp.square(act(h)), 0.0, q, kinks=kinks)
    return jnp.square(sigma_w) * second_moment + jnp.square(sigma_b)


def fixed_point(
    act: Activation,
    sigma_w: ArrayLike,
    sigma_b: ArrayLike,
    *,
    kinks: Sequence[float] = (0.0,),
) -> jax.Array:
    """The fixed point ``q* = V(q*)`` of :func:`variance_map` that unit-variance inputs reach.

    Iterating ``V`` from ``q = 1`` moves ``q`` monotonically towards the nearest stable fixed
    point in the direction ``V(1) - 1``; that point is found by bisection of ``V(q) - q`` in
    ``log q``, between 1 and ``MAX_VAR`` when ``V(1) > 1``, between ``MIN_VAR`` and 1 otherwise.
    ``MIN_VAR`` means that the variance vanishes with depth (relu with ``sigma_b = 0`` and
    ``sigma_w^2 < 2``), ``MAX_VAR`` that it grows without bound (relu with ``sigma_w^2 > 2``).
    Where ``V`` has two stable fixed points (silu with ``sigma_b = 0`` and ``2 < sigma_w^2 <
    4``: 0 and infinity), the one reached depends on the side of the unstable one that 1 lies.

    Args:
      act: the activation.
      sigma_w: the weight scale (as in :func:`variance_map`).
      sigma_b: the bias scale.
      kinks: the activation's kinks (:func:`variance_map`).

    Returns:
      ``q*``, a scalar in ``[MIN_VAR, MAX_VAR]``.
    """

    def excess(log_q: jax.Array) -> jax.Array:
        q = jnp.exp(log_q)
        return variance_map(act, q, sigma_w, sigma_b, kinks=kinks) - q

    one = jnp.zeros((), jnp.result_type(float))
    low, high = jnp.log(jnp.asarray(MIN_VAR, one.dtype)), jnp.log(jnp.asarray(MAX_VAR, one.dtype))
    growing = excess(one) > 0
    # The bracket keeps V - q > 0 at its lower end and V - q <= 0 at its upper end.
    start = (jnp.where(growing, one, low), jnp.where(growing, high, one))

    def step(_: int, bracket: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        lo, hi = bracket
        mid = (lo + hi) / 2
        above = excess(mid) > 0
        return jnp.where(above, mid, lo), jnp.where(above, hi, mid)

    lo, hi = jax.lax.fori_loop(0, _BISECTION_STEPS, step, start)
    log_q = (lo + hi) / 2
    log_q = jnp.where(growing & (excess(high) > 0), high, log_q)
    log_q = jnp.where(~growing & (excess(low) <= 0), low, log_q)
    return jnp.exp(log_q)


def backward_factor(
    act: Activation, sigma_w: ArrayLike, q: ArrayLike, *, kinks: Sequence[float] = (0.0,)
) -> jax.Array:
    """``sigma_w^2 E[phi'(sqrt(q) z)^2]``: the per-layer growth of the squared gradient norm.

    Args:
      act: the activation.
      sigma_w: the weight scale.
      q: the pre-activations' variance; 0 gives the linear-regime ``sigma_w^2 phi'(0)^2`` (with
        ``phi'(0)`` as JAX differentiates it: 0 for relu).
      kinks: the activation's kinks (:func:`variance_map`).

    Returns:
      The factor, a scalar.
    """
    moments = activation_moments(act, 0.0, q, kinks=kinks)
    return jnp.square(sigma_w) * moments.grad_second_moment


def chi1(
    act: Activation,
    sigma_w: ArrayLike,
    sigma_b: ArrayLike,
    *,
    kinks: Sequence[float] = (0.0,),
) -> jax.Array:
    """``chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]`` at the fixed point of :func:`fixed_point`.

    Args:
      act: the activation.
      sigma_w: the weight scale.
      sigma_b: the bias scale.
      kinks: the activation's kinks (:func:`variance_map`).

    Returns:
      ``chi_1``, a scalar: 1 on the order-to-chaos boundary.
    """
    q_star = fixed_point(act, sigma_w, sigma_b, kinks=kinks)
    return backward_factor(act, sigma_w, q_star, kinks=kinks)


@functools.partial(jax.jit, static_argnums=0)
def chi1_grid(
    act: Activation,
    sigma_w: ArrayLike,
    sigma_b: ArrayLike,
    *,
    kinks: Sequence[float] = (0.0,),
) -> jax.Array:
    """:func:`chi1` on the grid ``sigma_w x sigma_b`` (jitted, vmapped).

    Args:
      act: the activation (hashable: a function, not a fresh lambda per call, to reuse the
        compilation).
      sigma_w: weight scales, shape ``(W,)``.
      sigma_b: bias scales, shape ``(B,)``.
      kinks: the activation's kinks (:func:`variance_map`).

    Returns:
      ``chi_1``, shape ``(W, B)``.
    """

    def one(w: ArrayLike, b: ArrayLike) -> jax.Array:
        return chi1(act, w, b, kinks=kinks)

    return jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None))(sigma_w, sigma_b)


def batch_norm_backward_factor(act: Activation, *, kinks: Sequence[float] = (0.0,)) -> jax.Array:
    """``E[phi'(z)^2] / Var[phi(z)]``, ``z ~ N(0, 1)``: the per-layer growth of the squared
    gradient norm with train-mode BatchNorm before each activation (module doc).

    Args:
      act: the activation.
      kinks: the activation's kinks (:func:`variance_map`).

    Returns:
      The factor, a scalar.
    """
    moments = activation_moments(act, kinks=kinks)
    return moments.grad_second_moment / moments.variance
