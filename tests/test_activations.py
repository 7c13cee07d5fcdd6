"""The activation registry: names, aliases and the errors a user sees."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nish_jax import get_activation, list_activations, nish

EXPECTED = [
    "elu",
    "gelu",
    "gelu_tanh",
    "leaky_relu",
    "mish",
    "nish",
    "relu",
    "relu6",
    "selu",
    "silu",
    "swish",
]


def test_registry_lists_the_activations_of_the_experiments_and_networks():
    assert list_activations() == EXPECTED
    assert get_activation("nish") is nish
    assert get_activation("swish") is get_activation("silu") is jax.nn.silu
    assert get_activation("Mish") is jax.nn.mish


@pytest.mark.parametrize("name", EXPECTED)
def test_every_activation_runs_under_jit_and_grad(name):
    f = get_activation(name)
    x = jnp.linspace(-3, 3, 7)
    assert jax.jit(f)(x).shape == (7,)
    assert jnp.all(jnp.isfinite(jax.grad(lambda v: f(v).sum())(x)))


def test_gelu_is_the_exact_erf_form_and_gelu_tanh_the_approximation():
    x = jnp.linspace(-4, 4, 81)
    exact, approximate = get_activation("gelu")(x), get_activation("gelu_tanh")(x)
    np.testing.assert_array_equal(exact, jax.nn.gelu(x, approximate=False))
    np.testing.assert_array_equal(approximate, jax.nn.gelu(x, approximate=True))
    assert not np.array_equal(exact, approximate)


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown activation 'nsih'.*mish, nish, relu"):
        get_activation("nsih")
    with pytest.raises(TypeError, match="string"):
        get_activation(3)


def test_an_activation_is_a_plain_field_of_a_flax_module():
    class Block(nn.Module):
        act: object = get_activation("nish")

        @nn.compact
        def __call__(self, x):
            return self.act(nn.Dense(4)(x))

    x = jnp.ones((2, 3))
    params = Block().init(jax.random.key(0), x)
    y = Block(act=get_activation("relu")).apply(params, x)
    assert y.shape == (2, 4) and jnp.all(y >= 0)
