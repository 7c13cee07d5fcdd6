"""The Nish activation (Anagun & Isik): ``x`` for ``x >= 0``, ``sigmoid(x) * (x + sin x)`` below.

Facts the paper states wrongly, and which this module (and its tests) get right:

* The derivative. The paper's eq. (4) is wrong. The true derivative is ``1`` for ``x >= 0`` and,
  with ``s = sigmoid(x)``, ``s * ((1 - s) * (x + sin x) + 1 + cos x)`` for ``x < 0``. Both sides
  equal 1 at 0, so Nish is C^1; its second derivative jumps at 0 (from 1 below to 0 above).
* The range. The minimum is about -0.4974, at x = -1.0829 (the paper's "-0.31" is Mish's).

Speed: XLA's CPU ``sin`` is several times slower than its ``exp``, so a naive formula is 5-7x slower
than ``jax.nn.silu``. On float32 (and the half types, computed in float32) this module reduces the
non-positive argument once by pi (Cody-Waite), evaluates sine (and, for the derivative, cosine) as
short polynomials on the reduced argument, and the sigmoid from one ``exp`` that cannot overflow on
that branch. float64 uses ``jnp.sin``/``jnp.cos`` for full double accuracy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = ["nish", "nish_derivative", "NISH_MINIMUM", "NISH_ARGMIN"]

#: The global minimum of Nish and where it lies (the paper's "-0.31" is Mish's minimum).
NISH_MINIMUM = -0.4973705541899910
NISH_ARGMIN = -1.0828652870550948

# Below this float32 argument exp(x) underflows to 0, so sigmoid(x) * (anything finite) is exactly
# 0 (or -0). Clipping the branch argument there keeps -inf and huge inputs from giving NaN,
# changing no finite result (float64 underflows below -745).
_F32_NEGLIGIBLE = -128.0
_F64_NEGLIGIBLE = -1000.0

# pi split in three (Cody-Waite): k * _PI_HI and k * _PI_MID are exact for the needed |k| <= 41.
_PI_HI = 3.140625
_PI_MID = 9.675025939941406e-4
_PI_LO = 1.5099580252808664e-7
_ONE_OVER_PI = 0.3183098861837907

# Polynomials for sin(r) - r and cos(r) - 1 on [-pi/2, pi/2], fitted for minimal absolute error
# (below 5e-9, under float32 rounding): in powers r^3, r^5, ... and r^2, r^4, ...
_SIN = (-0.16666657096234025, 0.008333017286349255, -0.0001980661489011269, 2.6000541802013403e-06)
_COS = (
    -0.49999999549546065,
    0.04166664072768696,
    -0.0013888403504111724,
    2.4761886064182257e-05,
    -2.6077102449768584e-07,
)


def _reduce_by_pi(x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``r`` in [-pi/2, pi/2], ``r * r`` and whether ``k`` is odd, for ``x = k * pi + r``."""
    k = jnp.round(x * _ONE_OVER_PI)
    r = ((x - k * _PI_HI) - k * _PI_MID) - k * _PI_LO
    odd = (k.astype(jnp.int32) & 1) == 1
    return r, r * r, odd


def _sin_f32(r: jax.Array, z: jax.Array, odd: jax.Array) -> jax.Array:
    sin_r = r + r * z * (_SIN[0] + z * (_SIN[1] + z * (_SIN[2] + z * _SIN[3])))
    return jnp.where(odd, -sin_r, sin_r)


def _cos_f32(z: jax.Array, odd: jax.Array) -> jax.Array:
    cos_r = 1.0 + z * (_COS[0] + z * (_COS[1] + z * (_COS[2] + z * (_COS[3] + z * _COS[4]))))
    return jnp.where(odd, -cos_r, cos_r)


def _negative_branch(x: jax.Array, with_cos: bool):
    """(s, 1 - s, x + sin x, cos x or None) with ``x`` clipped to [negligible, 0].

    Positive inputs become 0 first, so the unselected branch of the final ``where`` can never
    overflow or leak NaN into a value or a gradient; NaN passes through unchanged. Only float32
    and float64 arrive here.
    """
    if x.dtype == jnp.float64:
        xs = jnp.clip(x, _F64_NEGLIGIBLE, 0.0)
        sin_x, cos_x = jnp.sin(xs), (jnp.cos(xs) if with_cos else None)
    else:
        xs = jnp.clip(x, _F32_NEGLIGIBLE, 0.0)
        r, z, odd = _reduce_by_pi(xs)
        sin_x, cos_x = _sin_f32(r, z, odd), (_cos_f32(z, odd) if with_cos else None)
    e = jnp.exp(xs)  # in (0, 1]: no overflow on this branch
    one_minus_s = 1.0 / (1.0 + e)
    return e * one_minus_s, one_minus_s, xs + sin_x, cos_x


def _compute_dtype(dtype) -> jnp.dtype:
    return jnp.float64 if dtype == jnp.float64 else jnp.float32


def _value(x: jax.Array) -> jax.Array:
    xc = x.astype(_compute_dtype(x.dtype))
    s, _, x_plus_sin, _ = _negative_branch(xc, with_cos=False)
    return jnp.where(xc >= 0, xc, s * x_plus_sin).astype(x.dtype)


def _value_and_derivative(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    xc = x.astype(_compute_dtype(x.dtype))
    s, one_minus_s, x_plus_sin, cos_x = _negative_branch(xc, with_cos=True)
    positive = xc >= 0
    value = jnp.where(positive, xc, s * x_plus_sin)
    derivative = jnp.where(positive, 1.0, s * (one_minus_s * x_plus_sin + 1.0 + cos_x))
    return value, derivative


@jax.custom_jvp
def _nish(x: jax.Array) -> jax.Array:
    return _value(x)


@_nish.defjvp
def _nish_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    value, derivative = _value_and_derivative(x)
    return value.astype(x.dtype), (derivative * t.astype(derivative.dtype)).astype(x.dtype)


def _as_float(x: ArrayLike) -> jax.Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        if jnp.issubdtype(x.dtype, jnp.complexfloating):
            raise TypeError(f"nish is defined on real numbers; got dtype {x.dtype}")
        x = x.astype(jnp.result_type(float))
    return x


def nish(x: ArrayLike) -> jax.Array:
    """Nish activation: ``x`` for ``x >= 0``, ``sigmoid(x) * (x + sin x)`` for ``x < 0``.

    Differentiable to any order (``jax.custom_jvp``: ``grad``, ``jvp``, ``jacfwd``, ``hessian``).
    The first derivative is exact: ``1`` for ``x >= 0`` and ``s*((1 - s)*(x + sin x) + 1 + cos x)``
    with ``s = sigmoid(x)`` below; the paper's eq. (4) is wrong.

    Float inputs keep their dtype (float16 and bfloat16 are computed in float32); integer and bool
    inputs are promoted to the default float dtype, as ``jax.nn.mish`` and ``jax.nn.gelu`` do.
    Finite for every finite input; ``nish(inf) = inf`` (gradient 1), ``nish(-inf) = 0``
    (gradient 0), NaN in gives NaN out.
    """
    return _nish(_as_float(x))


def nish_derivative(x: ArrayLike) -> jax.Array:
    """The exact first derivative of :func:`nish`, elementwise, in the dtype of ``nish(x)``."""
    x = _as_float(x)
    return _value_and_derivative(x)[1].astype(x.dtype)
