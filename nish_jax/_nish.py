"""The Nish activation (Anagun & Isik): ``x`` for ``x >= 0``, ``sigmoid(x) * (x + sin x)`` below.

Facts the paper states wrongly, and which this module (and its tests) get right:

* The derivative. The paper's eq. (4) is wrong. The true derivative is ``1`` for ``x >= 0`` and,
  with ``s = sigmoid(x)``, ``s * ((1 - s) * (x + sin x) + 1 + cos x)`` for ``x < 0``. Both sides
  equal 1 at 0, so Nish is C^1; its second derivative jumps at 0 (from 1 below to 0 above).
* The range. The minimum is about -0.4974, at x = -1.0829 (the paper's "-0.31" is Mish's).

Speed: XLA's CPU ``sin`` is several times slower than its ``exp``, so a naive formula is 5-7x slower
than ``jax.nn.silu``. On float32 (and the half types, computed in float32) this module reduces the
non-positive argument once by 2*pi (Cody-Waite), evaluates sine (and, for the derivative, cosine) as
polynomials on the reduced argument, and the sigmoid from one ``exp`` that cannot overflow on
that branch. float64 uses ``jnp.sin``/``jnp.cos`` for full double accuracy.

The float32 sine path is one of :data:`~nish_jax.SINE_PATHS`: ``"polynomial"`` (the default, on
every backend: measured faster on CPUs, within 1.6e-7 of a float64 reference there) or ``"jnp"``
(XLA's own ``sin``/``cos``). :func:`~nish_jax.nish_with_sine` builds Nish with either, inside the
same custom_jvp, so that ``benchmarks/activation.py`` can compare them on each backend; a backend
where ``"jnp"`` measures faster is the place to change the default.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = ["nish", "nish_derivative", "nish_with_sine", "NISH_MINIMUM", "NISH_ARGMIN", "SINE_PATHS"]

#: The global minimum of Nish, about -0.4974 (the paper's "-0.31" is Mish's minimum).
NISH_MINIMUM = -0.4973705541899910
#: Where Nish takes its minimum :data:`NISH_MINIMUM`: about -1.0829.
NISH_ARGMIN = -1.0828652870550948

#: The float32 ways to compute sine and cosine (see the module doc); the first is the default.
SINE_PATHS = ("polynomial", "jnp")

# Below this float32 argument exp(x) underflows to 0, so sigmoid(x) * (anything finite) is exactly
# 0 (or -0). Clipping the branch argument there keeps -inf and huge inputs from giving NaN,
# changing no finite result (float64 underflows below -745).
_F32_NEGLIGIBLE = -128.0
_F64_NEGLIGIBLE = -1000.0

# 2*pi split in two (Cody-Waite): k * _TWO_PI_HI is exact for the |k| <= 21 needed here, and the
# split's residual (1e-11) times k stays far below float32 resolution.
_TWO_PI_HI = 6.28125
_TWO_PI_LO = 0.0019353071693331003
_ONE_OVER_TWO_PI = 0.15915494309189535

# Polynomials for sin(r) - r and cos(r) - 1 on [-pi, pi], fitted for minimal absolute error (1.5e-9
# and 1.2e-8, under float32 rounding), in powers r^3, r^5, ... and r^2, r^4, ...
_SIN = (
    -0.166666656945205,
    0.0083333178106247,
    -0.00019840381402609313,
    2.7532925675368713e-06,
    -2.4703143873960342e-08,
    1.3528544989698655e-10,
)
_COS = (
    -0.49999992497762025,
    0.041666517942831674,
    -0.0013887905992411493,
    2.4771643587712194e-05,
    -2.7093484941295314e-07,
    1.729061204244147e-09,
)


def _reduce_by_two_pi(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``r`` in [-pi, pi] and ``r * r``, for ``x = 2 * pi * k + r``: no quadrant bookkeeping."""
    k = jnp.round(x * _ONE_OVER_TWO_PI)
    r = (x - k * _TWO_PI_HI) - k * _TWO_PI_LO
    return r, r * r


def _horner(z: jax.Array, coefficients: tuple[float, ...]) -> jax.Array:
    result = coefficients[-2] + z * coefficients[-1]
    for c in reversed(coefficients[:-2]):
        result = c + z * result
    return result


def _sin_f32(r: jax.Array, z: jax.Array) -> jax.Array:
    return r + r * z * _horner(z, _SIN)


def _cos_f32(z: jax.Array) -> jax.Array:
    return 1.0 + z * _horner(z, _COS)


def _branch_argument(x: jax.Array) -> jax.Array:
    """``x`` clipped to [negligible, 0].

    Positive inputs become 0, so the unselected branch of the final ``where`` can never overflow
    or leak NaN into a value or a gradient; NaN passes through.
    """
    low = _F64_NEGLIGIBLE if x.dtype == jnp.float64 else _F32_NEGLIGIBLE
    return jnp.clip(x, low, 0.0)


def _sin(xs: jax.Array, sine: str) -> jax.Array:
    """sin of a clipped float32 or float64 argument."""
    if xs.dtype == jnp.float64 or sine == "jnp":
        return jnp.sin(xs)
    r, z = _reduce_by_two_pi(xs)
    return _sin_f32(r, z)


def _sin_cos(xs: jax.Array, sine: str) -> tuple[jax.Array, jax.Array]:
    """sin and cos of a clipped float32 or float64 argument, from one range reduction."""
    if xs.dtype == jnp.float64 or sine == "jnp":
        return jnp.sin(xs), jnp.cos(xs)
    r, z = _reduce_by_two_pi(xs)
    return _sin_f32(r, z), _cos_f32(z)


def _compute_dtype(dtype) -> jnp.dtype:
    return jnp.float64 if dtype == jnp.float64 else jnp.float32


# The value and the derivative are two self-contained expressions, with the sigmoid written two
# ways (``e / (1 + e)`` with ``e = exp(x)``, and ``jax.nn.sigmoid``), so that XLA's common
# subexpression elimination cannot join them: each then fuses into one loop, and reverse mode keeps
# no shared intermediate (``exp``, a reciprocal) alive from the forward to the backward pass. That
# is what makes a training step's temporary memory no larger than ReLU's.
def _value(x: jax.Array, sine: str) -> jax.Array:
    xc = x.astype(_compute_dtype(x.dtype))
    xs = _branch_argument(xc)
    sin_x = _sin(xs, sine)
    e = jnp.exp(xs)  # in (0, 1]: no overflow on this branch
    s = e / (1.0 + e)
    return jnp.where(xc >= 0, xc, s * (xs + sin_x)).astype(x.dtype)


def _derivative(x: jax.Array, sine: str) -> jax.Array:
    """In the compute dtype (float32 or float64). ``jax.nn.sigmoid``'s own derivative rule keeps
    higher-order derivatives finite where ``exp(-x)`` overflows."""
    xc = x.astype(_compute_dtype(x.dtype))
    xs = _branch_argument(xc)
    sin_x, cos_x = _sin_cos(xs, sine)
    s = jax.nn.sigmoid(xs)
    return jnp.where(xc >= 0, 1.0, s * ((1.0 - s) * (xs + sin_x) + 1.0 + cos_x))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _nish(x: jax.Array, sine: str) -> jax.Array:
    return _value(x, sine)


@_nish.defjvp
def _nish_jvp(sine, primals, tangents):
    (x,), (t,) = primals, tangents
    derivative = _derivative(x, sine)
    return _value(x, sine), (derivative * t.astype(derivative.dtype)).astype(x.dtype)


def _as_float(x: ArrayLike) -> jax.Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        if jnp.issubdtype(x.dtype, jnp.complexfloating):
            raise TypeError(f"nish is defined on real numbers; got dtype {x.dtype}")
        x = x.astype(jnp.result_type(float))
    return x


@jax.jit
def nish(x: ArrayLike) -> jax.Array:
    """Nish activation: ``x`` for ``x >= 0``, ``sigmoid(x) * (x + sin x)`` for ``x < 0``.

    Differentiable to any order (``jax.custom_jvp``: ``grad``, ``jvp``, ``jacfwd``, ``hessian``).
    The first derivative is exact: ``1`` for ``x >= 0`` and ``s*((1 - s)*(x + sin x) + 1 + cos x)``
    with ``s = sigmoid(x)`` below; the paper's eq. (4) is wrong. Wrapped in ``jax.jit``, as
    ``jax.nn``'s activations are, so an eager call runs one compiled program.

    Float inputs keep their dtype (float16 and bfloat16 are computed in float32); integer and bool
    inputs are promoted to the default float dtype, as ``jax.nn.mish`` and ``jax.nn.gelu`` do.
    Finite for every finite input; ``nish(inf) = inf`` (gradient 1), ``nish(-inf) = 0``
    (gradient 0), NaN in gives NaN out.

    Args:
      x: input array (any shape; real, integer or bool).

    Returns:
      An array of the same shape as ``x``, of ``x``'s dtype when it is a float, else of the
      default float dtype.

    Raises:
      TypeError: ``x`` is complex.
    """
    return _nish(_as_float(x), SINE_PATHS[0])


@jax.jit
def nish_derivative(x: ArrayLike) -> jax.Array:
    """The exact first derivative of :func:`nish`, elementwise (jitted).

    Args:
      x: input array, as for :func:`nish`.

    Returns:
      ``d nish / dx`` at every element, in the dtype of ``nish(x)``.
    """
    x = _as_float(x)
    return _derivative(x, SINE_PATHS[0]).astype(x.dtype)


def nish_with_sine(sine: str) -> Callable[[ArrayLike], jax.Array]:
    """:func:`nish` with its float32 sine and cosine computed the ``sine`` way, for comparing
    the paths' speed: the same custom_jvp and dtype rules, jitted as :func:`nish` is.

    Args:
      sine: one of :data:`SINE_PATHS`.

    Returns:
      The activation function, named ``nish_<sine>``.

    Raises:
      ValueError: ``sine`` is not one of :data:`SINE_PATHS`.
    """
    if sine not in SINE_PATHS:
        raise ValueError(f"unknown sine path {sine!r}; valid: {', '.join(SINE_PATHS)}")

    def nish_sine(x: ArrayLike) -> jax.Array:
        return _nish(_as_float(x), sine)

    nish_sine.__name__ = nish_sine.__qualname__ = f"nish_{sine}"
    return jax.jit(nish_sine)
