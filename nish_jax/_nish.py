"""The Nish activation (Anagun & Isik): ``x`` for ``x >= 0``, ``sigmoid(x) * (x + sin x)`` below.

Facts the paper states wrongly, and which this module (and its tests) get right:

* The derivative. The paper's eq. (4) is wrong. The true derivative is ``1`` for ``x >= 0`` and,
  with ``s = sigmoid(x)``, ``s * ((1 - s) * (x + sin x) + 1 + cos x)`` for ``x < 0``. Both sides
  equal 1 at 0, so Nish is C^1; its second derivative jumps at 0 (from 1 below to 0 above).
* The range. The minimum is about -0.4974, at x = -1.0829 (the paper's "-0.31" is Mish's).

Speed: XLA's CPU ``sin`` is several times slower than its ``exp``, so a naive formula is 5-7x slower
than ``jax.nn.silu``. On float32 (and the half types, computed in float32) this module evaluates
sine and cosine of the non-positive argument together, once, as polynomials on a Cody-Waite reduced
argument, and the sigmoid from one ``exp`` that cannot overflow on that branch. float64 uses
``jnp.sin``/``jnp.cos`` for full double accuracy.
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
# 0 (or -0). Bounding the sine's argument there keeps -inf and huge inputs from producing NaN while
# changing no finite result.
_F32_NEGLIGIBLE = -128.0
_F64_NEGLIGIBLE = -1000.0

# pi/2 split in three (Cody-Waite): k * _PIO2_HI is exact for |k| < 2**15.
_PIO2_HI = 1.5703125
_PIO2_MID = 4.837512969970703125e-4
_PIO2_LO = 7.549789948768648e-8
_TWO_OVER_PI = 0.6366197723675814

# Minimax polynomials of sin and cos on [-pi/4, pi/4], float32 accurate (Cephes' sinf/cosf).
_SIN = (-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1)
_COS = (2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2)


def _sincos_f32(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """sin(x) and cos(x) for float32 ``x`` in [-128, 0], sharing one range reduction."""
    k = jnp.round(x * _TWO_OVER_PI)
    r = ((x - k * _PIO2_HI) - k * _PIO2_MID) - k * _PIO2_LO
    z = r * r
    sin_r = r + r * z * (_SIN[2] + z * (_SIN[1] + z * _SIN[0]))
    cos_r = 1.0 - 0.5 * z + z * z * (_COS[2] + z * (_COS[1] + z * _COS[0]))
    quadrant = k.astype(jnp.int32) & 3
    swap = (quadrant & 1) == 1
    sin_x = jnp.where(swap, cos_r, sin_r)
    cos_x = jnp.where(swap, sin_r, cos_r)
    sin_x = jnp.where(quadrant >= 2, -sin_x, sin_x)
    cos_x = jnp.where((quadrant == 1) | (quadrant == 2), -cos_x, cos_x)
    return sin_x, cos_x


def _negative_branch_terms(x: jax.Array):
    """(s, 1 - s, x + sin x, cos x) on the negative branch; finite for every non-positive x.

    Positive inputs are replaced by 0 first, so the unselected branch of the final ``where`` can
    never overflow or leak NaN into a value or a gradient; NaN passes through unchanged.
    """
    xn = jnp.where(x >= 0, jnp.zeros_like(x), x)
    if x.dtype == jnp.float64:
        xs = jnp.maximum(xn, _F64_NEGLIGIBLE)
        sin_x, cos_x = jnp.sin(xs), jnp.cos(xs)
    else:
        xs = jnp.maximum(xn, _F32_NEGLIGIBLE)
        sin_x, cos_x = _sincos_f32(xs)
    e = jnp.exp(xn)  # in (0, 1]: no overflow on this branch
    one_minus_s = 1.0 / (1.0 + e)
    s = e * one_minus_s
    return s, one_minus_s, xs + sin_x, cos_x


def _compute_dtype(dtype) -> jnp.dtype:
    return jnp.float64 if dtype == jnp.float64 else jnp.float32


def _value(x: jax.Array) -> jax.Array:
    xc = x.astype(_compute_dtype(x.dtype))
    s, _, x_plus_sin, _ = _negative_branch_terms(xc)
    return jnp.where(xc >= 0, xc, s * x_plus_sin).astype(x.dtype)


def _value_and_derivative(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    xc = x.astype(_compute_dtype(x.dtype))
    s, one_minus_s, x_plus_sin, cos_x = _negative_branch_terms(xc)
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
