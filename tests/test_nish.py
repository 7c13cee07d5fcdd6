"""The Nish activation: exact values and derivative, stability, dtypes and transformations."""

import contextlib
import io
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.ad_checkpoint import print_saved_residuals
from jax.test_util import check_grads

from nish_jax import NISH_ARGMIN, NISH_MINIMUM, nish, nish_derivative, nish_with_sine


@pytest.fixture(autouse=True)
def float64_enabled():
    """float64 inputs stay float64 here, so float32 results can be checked against them."""
    with jax.enable_x64(True):
        yield


def reference(x):
    """Nish and its true derivative in float64 numpy (the paper's eq. (4) is wrong)."""
    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        s = 1.0 / (1.0 + np.exp(-x))
        value = np.where(x >= 0, x, s * (x + np.sin(x)))
        derivative = np.where(x >= 0, 1.0, s * ((1 - s) * (x + np.sin(x)) + 1 + np.cos(x)))
    return value, derivative


SPECIAL = np.array(
    [0.0, -0.0, 1e-45, -1e-45, 1e-38, -1e-38, 3.4e38, -3.4e38, -1.0829, -88.0, -104.0, -150.0],
    np.float32,
)
# Jitted once, so property tests with hundreds of examples stay fast.
value_and_grad = jax.jit(jax.value_and_grad(nish))
derivative = jax.jit(nish_derivative)

DENSE = np.concatenate([np.linspace(-100, 100, 400_001, dtype=np.float32), SPECIAL])


def test_an_unknown_sine_path_is_refused_naming_the_valid_ones():
    with pytest.raises(ValueError, match="'cordic'; valid: polynomial, jnp"):
        nish_with_sine("cordic")


# nish itself (the polynomial sine path) and the other path the benchmark compares it with.
@pytest.mark.parametrize("act", [nish, nish_with_sine("jnp")], ids=["nish", "jnp_sine"])
def test_float32_value_and_derivative_within_1e6_of_float64_reference(act):
    x = jnp.asarray(DENSE)
    value = jax.jit(act)(x)
    grad = jax.jit(jax.vmap(jax.grad(act)))(x)
    ref_value, ref_grad = reference(DENSE)
    assert value.dtype == jnp.float32 and grad.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(value, np.float64), ref_value, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(grad, np.float64), ref_grad, rtol=0, atol=1e-6)


def test_float64_matches_reference_to_double_precision():
    x = np.linspace(-60, 60, 100_001)
    ref_value, ref_grad = reference(x)
    np.testing.assert_allclose(nish(x), ref_value, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(jax.vmap(jax.grad(nish))(x), ref_grad, rtol=1e-12, atol=1e-15)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_every_finite_float32_gives_finite_value_and_gradient(x):
    value, grad = value_and_grad(jnp.float32(x))
    assert jnp.isfinite(value) and jnp.isfinite(grad)
    ref_value, ref_grad = reference(x)
    assert abs(float(value) - ref_value) <= 1e-6 + 1e-6 * abs(ref_value)
    assert abs(float(grad) - ref_grad) <= 1e-6


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=-50, max_value=50, allow_nan=False))
def test_gradient_is_the_true_derivative_not_the_papers_eq4(x):
    s = 1 / (1 + np.exp(-x))
    true = 1.0 if x >= 0 else s * ((1 - s) * (x + np.sin(x)) + 1 + np.cos(x))
    assert float(value_and_grad(x)[1]) == pytest.approx(true, rel=1e-12, abs=1e-14)
    assert float(derivative(x)) == pytest.approx(true, rel=1e-12, abs=1e-14)


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=-30, max_value=30, allow_nan=False))
def test_nish_is_identity_above_zero_and_bounded_below(x):
    value = float(value_and_grad(x)[0])
    if x >= 0:
        assert value == x
    assert value >= NISH_MINIMUM - 1e-5


def test_derivative_is_continuous_at_zero_and_second_derivative_jumps():
    eps = 1e-7
    assert float(jax.grad(nish)(-eps)) == pytest.approx(1.0, abs=1e-6)
    assert float(jax.grad(nish)(0.0)) == 1.0
    # f'' = s''(x + sin x) + 2 s'(1 + cos x) - s sin x -> 2 * 1/4 * 2 = 1 from below, 0 above.
    assert float(jax.hessian(nish)(-eps)) == pytest.approx(1.0, abs=1e-5)
    assert float(jax.hessian(nish)(eps)) == 0.0


def test_minimum_is_minus_0_4974_at_minus_1_0829_not_the_papers_minus_0_31():
    x = np.linspace(-3, 0, 3_000_001)
    values = np.asarray(nish(x))
    i = int(np.argmin(values))
    assert values[i] == pytest.approx(-0.4974, abs=1e-4)
    assert x[i] == pytest.approx(-1.0829, abs=1e-4)
    assert values[i] == pytest.approx(NISH_MINIMUM, abs=1e-5)
    assert x[i] == pytest.approx(NISH_ARGMIN, abs=1e-4)
    assert float(jax.grad(nish)(x[i])) == pytest.approx(0.0, abs=1e-5)
    mish_minimum = float(jnp.min(jax.nn.mish(x)))
    assert mish_minimum == pytest.approx(-0.3088, abs=1e-3)  # the paper's "-0.31"


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64, jnp.float16, jnp.bfloat16])
def test_infinities_and_nan(dtype):
    x = jnp.array([jnp.inf, -jnp.inf, jnp.nan], dtype)
    value = nish(x)
    grad = jax.vmap(jax.grad(nish))(x)
    assert value.dtype == dtype and grad.dtype == dtype
    assert value[0] == jnp.inf and grad[0] == 1
    assert value[1] == 0 and grad[1] == 0
    assert jnp.isnan(value[2]) and jnp.isnan(grad[2])


def test_signed_zero_and_subnormals():
    x = jnp.array([-0.0, 1e-45, -1e-45, 1e-40, -1e-40], jnp.float32)
    value = jax.jit(nish)(x)
    assert jnp.signbit(value[0]) and value[0] == 0
    # Near zero nish(x) ~ x on both sides (sigmoid(0) * 2x = x).
    np.testing.assert_array_equal(value[1:], x[1:])
    np.testing.assert_array_equal(jax.jit(jax.vmap(jax.grad(nish)))(x), np.ones(5, np.float32))


@pytest.mark.parametrize(
    "dtype, atol",
    [(jnp.float16, 2e-3), (jnp.bfloat16, 1e-2), (jnp.float32, 1e-6), (jnp.float64, 1e-14)],
)
def test_dtype_is_kept_with_accuracy_of_that_dtype(dtype, atol):
    x = jnp.linspace(-20, 20, 4001).astype(dtype)
    ref_value, ref_grad = reference(np.asarray(x, np.float64))
    value = nish(x)
    grad = jax.grad(lambda v: nish(v).sum())(x)
    assert value.dtype == dtype and grad.dtype == dtype
    # Half types are computed in float32, so the only error is the final rounding.
    scale = np.maximum(1.0, np.abs(ref_value))
    np.testing.assert_array_less(np.abs(np.asarray(value, np.float64) - ref_value), atol * scale)
    np.testing.assert_array_less(np.abs(np.asarray(grad, np.float64) - ref_grad), atol * 2)


def test_integer_and_bool_inputs_are_promoted_to_the_default_float_like_jax_nn_mish():
    ints = jnp.arange(-3, 3)
    assert nish(ints).dtype == jax.nn.mish(ints).dtype == jnp.result_type(float)
    np.testing.assert_allclose(nish(ints), reference(np.arange(-3, 3))[0], rtol=1e-12)
    assert nish(jnp.array([True, False])).dtype == jnp.result_type(float)
    with pytest.raises(TypeError, match="real"):
        nish(jnp.array([1 + 1j]))


def test_check_grads_to_third_order_in_both_modes():
    for x in [-3.7, -0.3, 0.4]:
        check_grads(nish, (x,), order=3, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)


def test_jit_grad_vmap_jvp_jacfwd_hessian_agree():
    x = jnp.linspace(-8, 3, 101, dtype=jnp.float32)
    _, ref_grad = reference(np.asarray(x))
    _, tangent = jax.jvp(nish, (x,), (jnp.ones_like(x),))
    np.testing.assert_allclose(tangent, ref_grad, atol=1e-6)
    np.testing.assert_allclose(jnp.diag(jax.jacfwd(nish)(x)), ref_grad, atol=1e-6)
    np.testing.assert_allclose(jnp.diag(jax.jacrev(nish)(x)), ref_grad, atol=1e-6)
    hess = jax.jit(jax.vmap(jax.hessian(nish)))(jnp.asarray(x, jnp.float64))
    x64 = np.asarray(x, np.float64)
    fd = (reference(x64 + 1e-6)[1] - reference(x64 - 1e-6)[1]) / 2e-6
    np.testing.assert_allclose(hess, fd, atol=1e-5)
    # Third order works in the float32 path too (through the polynomial sine).
    third = jax.grad(jax.grad(jax.grad(nish)))(jnp.float32(-1.0))
    third_ref = jax.grad(jax.grad(jax.grad(nish)))(-1.0)
    assert float(third) == pytest.approx(float(third_ref), abs=1e-4)


def saved_residuals(f, x):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_saved_residuals(f, x)
    return [line for line in out.getvalue().splitlines() if line.strip()]


def test_reverse_mode_saves_one_residual_where_silu_saves_more():
    x = -jnp.ones((8,), jnp.float32)
    nish_residuals = saved_residuals(lambda v: nish(v).sum(), x)
    assert len(nish_residuals) == 1, nish_residuals
    assert len(saved_residuals(lambda v: jax.nn.silu(v).sum(), x)) > 1


SHARDED_SCRIPT = """
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from nish_jax import nish
assert jax.device_count() == 4, jax.devices()
mesh = Mesh(np.array(jax.devices()), ("data",))
x = jnp.linspace(-20, 20, 4096, dtype=jnp.float32).reshape(64, 64)
xs = jax.device_put(x, NamedSharding(mesh, P("data")))
f = jax.jit(lambda v: (nish(v), jax.grad(lambda w: nish(w).sum())(v)))
(v, g), (v1, g1) = f(xs), f(x)
assert v.sharding.spec == P("data"), v.sharding
np.testing.assert_array_equal(v, v1)
np.testing.assert_array_equal(g, g1)
print("ok")
"""


def test_inside_jit_over_a_sharded_array_on_four_devices():
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu"
    )
    out = subprocess.run(
        [sys.executable, "-c", SHARDED_SCRIPT], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]
