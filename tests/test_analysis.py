"""nish_jax.analysis: per-example gradients against loops over examples, signal propagation and
BatchNorm recalibration on real MNIST images; quadrature against scipy, gains against the NFNets'
published constants, and the mean-field closed forms of ReLU."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import traverse_util
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from nish_jax import create_model, get_activation
from nish_jax.analysis import (
    activation_moments,
    activation_sites,
    backward_factor,
    batch_norm_backward_factor,
    chi1_grid,
    dropout_variance_shift,
    fixed_point,
    gaussian_expectation,
    model_grad_norms,
    per_example_grad_norms,
    recalibrate_batch_stats,
    signal_propagation,
    variance_map,
    variance_preserving_gain,
)
from nish_jax.data import load

ACTIVATIONS = ("relu", "silu", "gelu", "elu", "mish", "nish")
xent = optax.softmax_cross_entropy_with_integer_labels


@pytest.fixture(scope="module")
def mnist():
    """64 class-balanced MNIST test images, normalised as in training, and their labels."""
    data = load("mnist", "test").subset(64)
    images = (data.images / 255.0 - np.asarray(data.mean)) / np.asarray(data.std)
    return jnp.asarray(images, jnp.float32), jnp.asarray(data.labels)


def _init(model, inputs, seed=0):
    """Random variables shaped by ``model.init`` (He-normal kernels, zero biases, unit scales,
    running statistics 0 and 1) drawn with numpy: no compilation of the initialisers."""
    shapes = jax.eval_shape(model.init, jax.random.key(0), inputs)
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name = path[-1].key
        if name == "kernel":
            fan_in = np.prod(leaf.shape[:-1])
            return jnp.asarray(rng.normal(0, np.sqrt(2 / fan_in), leaf.shape), leaf.dtype)
        fill = {"bias": np.zeros(leaf.shape), "mean": np.zeros(leaf.shape)}
        return jnp.asarray(fill.get(name, np.ones(leaf.shape)), leaf.dtype)

    return jax.tree_util.tree_map_with_path(draw, shapes)


@pytest.fixture(scope="module")
def mlp():
    model = create_model("mlp", num_classes=10, depth=3, width=32, dropout=0.25)
    return model, _init(model, jnp.zeros((1, 28, 28, 1)))


# --- per-example gradients -------------------------------------------------------------------


class _Perturbed:
    """The reference's own activation probe: adds the next perturbation to each output."""

    def __init__(self, act, perturbations):
        self.act, self.perturbations, self.calls = act, perturbations, 0

    def __call__(self, x):
        y = self.act(x) + self.perturbations[self.calls]
        self.calls += 1
        return y


def _loop_reference(model, variables, inputs, labels, *, train, dropout_key=None):
    """Norms of each example's gradient, one example at a time: eval mode on the example alone,
    train mode as the gradient of its loss term in the full-batch forward pass."""
    sites = activation_sites(model, variables, inputs if train else inputs[:1], train=train)
    zeros = [jnp.zeros(site.shape) for site in sites]

    def losses(params, perturbations, x, y):
        probed = model.clone(act=_Perturbed(model.act, perturbations))
        if train:
            rngs = {"dropout": dropout_key} if dropout_key is not None else {}
            logits, _ = probed.apply(
                {**variables, "params": params}, x, train=True, rngs=rngs, mutable=["batch_stats"]
            )
        else:
            logits = probed.apply({**variables, "params": params}, x, train=False)
        return xent(logits, y)

    @jax.jit
    def norms(i):
        if train:
            loss = lambda p, d: losses(p, d, inputs, labels)[i]  # noqa: E731
        else:
            x, y = jax.lax.dynamic_slice_in_dim(inputs, i, 1), labels[i][None]
            loss = lambda p, d: losses(p, d, x, y)[0]  # noqa: E731
        grads = jax.grad(loss, argnums=(0, 1))(variables["params"], zeros)
        return jax.tree.map(jnp.linalg.norm, grads)

    per_example = [norms(i) for i in range(inputs.shape[0])]
    params, site_norms = jax.tree.map(lambda *xs: jnp.stack(xs), *per_example)
    return params, {site.name: norm for site, norm in zip(sites, site_norms, strict=True)}


def _assert_norms_close(found, params, sites, rtol=2e-4):
    flat_found, flat_ref = (traverse_util.flatten_dict(t) for t in (found.params, params))
    assert flat_found.keys() == flat_ref.keys() and found.sites.keys() == sites.keys()
    for key in flat_ref:
        np.testing.assert_allclose(flat_found[key], flat_ref[key], rtol=rtol, atol=1e-5)
    for name in sites:
        np.testing.assert_allclose(found.sites[name], sites[name], rtol=rtol, atol=1e-5)


def test_eval_mode_gradients_equal_single_example_gradients_and_chunking_changes_nothing(
    mnist, mlp
):
    model, variables = mlp
    inputs, labels = mnist[0][:8], mnist[1][:8]
    found = model_grad_norms(model, variables, inputs, labels)
    _assert_norms_close(found, *_loop_reference(model, variables, inputs, labels, train=False))
    chunked = model_grad_norms(model, variables, inputs, labels, chunk_size=3)
    jax.tree.map(
        functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6), chunked, found
    )
    assert list(found.sites) == ["act0", "act1", "act2"]


@pytest.mark.parametrize("dropout", [False, True], ids=["dropout_off", "dropout_on"])
def test_train_mode_gradients_are_each_loss_term_in_the_full_batch(mnist, mlp, dropout):
    model, variables = mlp
    inputs, labels = mnist[0][:8], mnist[1][:8]
    key = jax.random.key(7) if dropout else None
    found = model_grad_norms(
        model, variables, inputs, labels, train=True, dropout_key=key, chunk_size=3
    )
    # The reference switches dropout off its own way: a model with rate 0.
    reference_model = model if dropout else model.clone(dropout=0.0)
    _assert_norms_close(
        found,
        *_loop_reference(reference_model, variables, inputs, labels, train=True, dropout_key=key),
    )
    # BatchNorm couples the examples: an example's gradient inside the batch is not its own.
    alone = model_grad_norms(model, variables, inputs, labels)
    assert not np.allclose(found.params["dense0"]["kernel"], alone.params["dense0"]["kernel"])


def test_cnn_train_mode_chunked_equals_the_loop(mnist):
    model = create_model("cnn", num_classes=10, depth=2, width=8)
    inputs, labels = mnist[0][:6, ::2, ::2], mnist[1][:6]  # 14x14 images keep it quick
    variables = _init(model, inputs[:1], seed=1)
    found = model_grad_norms(model, variables, inputs, labels, train=True, chunk_size=4)
    _assert_norms_close(found, *_loop_reference(model, variables, inputs, labels, train=True))


def test_resnet18_sites_are_named_by_module_and_norms_aggregate_by_layer_and_group(mnist):
    model = create_model("resnet18", num_classes=10, stem="cifar", in_chans=1)
    inputs, labels = mnist[0][:3, ::4, ::4], mnist[1][:3]  # 7x7 images keep it quick
    variables = _init(model, inputs[:1], seed=2)
    found = model_grad_norms(model, variables, inputs, labels, chunk_size=2)
    names = list(found.sites)
    assert names[:3] == ["act0", "layer1_0/act0", "layer1_0/act1"] and len(names) == 17
    assert all(np.all(norm > 0) and norm.shape == (3,) for norm in found.sites.values())
    layers = found.layers()
    np.testing.assert_allclose(
        layers["layer1_0/bn1"],
        np.hypot(found.params["layer1_0"]["bn1"]["scale"], found.params["layer1_0"]["bn1"]["bias"]),
        rtol=1e-6,
    )
    kernels = [n for k, n in traverse_util.flatten_dict(found.params).items() if k[-1] == "kernel"]
    np.testing.assert_allclose(
        found.groups()["kernel"], np.sqrt(sum(np.square(n) for n in kernels)), rtol=1e-5
    )


def test_per_example_grad_norms_of_any_loss_function():
    """Independent examples: the closed form of least squares; coupled examples: the rows of the
    Jacobian, with and without chunks."""
    x = jax.random.normal(jax.random.key(3), (7, 5))
    y = jax.random.normal(jax.random.key(4), (7,))
    w = jax.random.normal(jax.random.key(5), (5,))
    squares = lambda w, batch: jnp.square(batch[0] @ w - batch[1])  # noqa: E731
    found = per_example_grad_norms(squares, w, (x, y))
    expected = np.abs(2 * (x @ w - y)) * np.linalg.norm(x, axis=1)
    np.testing.assert_allclose(found, expected, rtol=1e-5)

    def normalised(w, x):  # every example's loss depends on the whole batch
        h = x @ w
        return jnp.square((h - h.mean()) / h.std())

    jacobian = jax.jacrev(normalised)(w, x)
    for chunk_size in (None, 3):
        rows = per_example_grad_norms(normalised, w, x, coupled=True, chunk_size=chunk_size)
        np.testing.assert_allclose(rows, np.linalg.norm(jacobian, axis=1), rtol=1e-4, atol=1e-6)


# --- signal propagation and BatchNorm recalibration ------------------------------------------


def test_train_mode_pre_activations_have_unit_variance_after_batch_norm(mnist, mlp):
    model, variables = mlp
    rows = signal_propagation(model, variables, mnist[0], dropout_key=jax.random.key(0))
    train = [row for row in rows if row.mode == "train"]
    evals = [row for row in rows if row.mode == "eval"]
    assert [row.name for row in train] == [row.name for row in evals] == ["act0", "act1", "act2"]
    assert [row.index for row in train] == [0, 1, 2]
    for row in train:  # scale 1, bias 0 at initialisation; BatchNorm's epsilon is 1e-5
        assert abs(row.pre_mean) < 1e-5 and row.pre_var == pytest.approx(1.0, abs=1e-3)
        assert row.pre_unit_var == pytest.approx(row.pre_var, abs=1e-5)  # every unit centred
    for row in evals:  # all elements' variance: the units' own, plus their means' spread
        assert row.pre_unit_var <= row.pre_var + 1e-6
    # Eval mode at initialisation normalises with the running statistics 0 and 1: the identity.
    assert all(abs(row.pre_var - 1.0) > 0.05 for row in evals)


def test_recalibration_keeps_params_and_makes_eval_mode_match_train_mode(mnist, mlp):
    model, variables = mlp
    inputs = mnist[0]
    stale = jax.tree.map(lambda s: s + 0.5, variables["batch_stats"])
    variables = {**variables, "batch_stats": stale}
    no_dropout = model.clone(dropout=0.0)
    train_out, _ = no_dropout.apply(variables, inputs, train=True, mutable=["batch_stats"])
    assert not np.allclose(model.apply(variables, inputs), train_out, atol=1e-2)

    new = recalibrate_batch_stats(model, variables, [inputs])
    assert new["params"] is variables["params"]
    assert traverse_util.flatten_dict(new["batch_stats"]).keys() == (
        traverse_util.flatten_dict(stale).keys()
    )
    np.testing.assert_allclose(model.apply(new, inputs), train_out, rtol=1e-4, atol=1e-4)


def test_recalibration_pools_the_batches_exactly(mnist, mlp):
    """The first BatchNorm sees the first dense layer's outputs: its recalibrated statistics over
    two batches are those of the two batches together."""
    model, variables = mlp
    inputs = mnist[0]
    new = recalibrate_batch_stats(model, variables, [inputs[:40], inputs[40:]])
    dense = variables["params"]["dense0"]
    h = np.asarray(inputs.reshape(64, -1), np.float64) @ dense["kernel"] + dense["bias"]
    np.testing.assert_allclose(new["batch_stats"]["bn0"]["mean"], h.mean(0), atol=1e-5)
    np.testing.assert_allclose(new["batch_stats"]["bn0"]["var"], h.var(0), rtol=1e-4)


# --- moments and mean field --------------------------------------------------------------------


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_moments_match_scipy_quad_to_1e_12(name):
    act = get_activation(name)
    with jax.enable_x64(True):
        grad = jax.jit(jax.grad(act))
        value = jax.jit(act)
        for mean, var in ((0.0, 1.0), (-0.4, 2.5)):
            found = activation_moments(act, mean, var)
            for moment, fn in zip(
                found,
                (value, lambda z: value(z) ** 2, lambda z: grad(z) ** 2),
                strict=True,
            ):
                density = lambda z, fn=fn, mean=mean, var=var: (  # noqa: E731
                    float(fn(z)) * np.exp(-((z - mean) ** 2) / (2 * var)) / np.sqrt(2 * np.pi * var)
                )
                span = 40 * np.sqrt(var)
                pieces = [(mean - span, 0.0), (0.0, mean + span)]
                reference = sum(
                    integrate.quad(density, a, b, epsabs=1e-15, epsrel=1e-13, limit=200)[0]
                    for a, b in pieces
                )
                assert abs(float(moment) - reference) < 1e-12, (name, mean, var)


def test_a_kink_off_zero_needs_its_kinks_argument():
    relu6 = jax.nn.relu6  # E[relu6(z)] for z ~ N(5, 1), kinks at 0 and 6
    with jax.enable_x64(True):
        exact = gaussian_expectation(relu6, 5.0, 1.0, kinks=(0.0, 6.0))
        reference = integrate.quad(
            lambda z: min(max(z, 0), 6) * np.exp(-((z - 5) ** 2) / 2) / np.sqrt(2 * np.pi),
            -40,
            50,
            points=[0, 6],
            limit=200,
        )[0]
        assert abs(float(exact) - reference) < 1e-12
        assert abs(float(gaussian_expectation(relu6, 5.0, 1.0)) - reference) > 1e-9


# deepmind-research nfnets/base.py, `nonlinearities` (gelu is jax.nn.gelu's tanh form).
NFNETS_GAMMA = {
    "relu": (jax.nn.relu, 1.7139588594436646),
    "gelu": (jax.nn.gelu, 1.7015043497085571),
    "silu": (jax.nn.silu, 1.7881293296813965),
    "elu": (jax.nn.elu, 1.2716004848480225),
}


@pytest.mark.parametrize("name", NFNETS_GAMMA)
def test_gains_agree_with_the_nfnets_constants_and_sit_slightly_below_them(name):
    act, published = NFNETS_GAMMA[name]
    gain = float(variance_preserving_gain(act))
    assert abs(gain - published) < 0.002
    assert 3e-4 < published - gain < 1.5e-3  # the published values were sampled, 1e-3 high
    if name == "relu":
        assert gain == pytest.approx(1 / np.sqrt(0.5 - 0.5 / np.pi), rel=1e-6)


def test_backward_factors_of_relu_and_silu_in_closed_form():
    relu_var = 0.5 - 0.5 / np.pi
    assert float(batch_norm_backward_factor(jax.nn.relu)) == pytest.approx(0.5 / relu_var, 1e-5)
    assert float(backward_factor(jax.nn.silu, 1.5, 0.0)) == pytest.approx(1.5**2 / 4, 1e-6)
    assert float(backward_factor(get_activation("nish"), 1.0, 0.0)) == pytest.approx(1.0, 1e-6)


@functools.partial(jax.jit, static_argnums=0)
def _fixed_point_and_its_image(act, sigma_w, sigma_b):
    q = fixed_point(act, sigma_w, sigma_b)
    return q, variance_map(act, q, sigma_w, sigma_b)


@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(ACTIVATIONS),
    sigma_w=st.floats(0.5, 1.35),
    sigma_b=st.floats(0.1, 1.0),
)
def test_fixed_point_is_a_fixed_point(name, sigma_w, sigma_b):
    act = get_activation(name)
    q, image = map(float, _fixed_point_and_its_image(act, sigma_w, sigma_b))
    assert 1e-12 < q < 1e12
    assert image == pytest.approx(q, rel=1e-5)
    if name == "relu":
        assert q == pytest.approx(sigma_b**2 / (1 - sigma_w**2 / 2), rel=1e-5)


def test_relu_chi1_is_half_sigma_w_squared_and_critical_at_two():
    sigma_w2 = np.array([0.5, 1.0, 1.9, 1.99, 2.0, 2.01, 2.5, 4.0])
    sigma_b = jnp.array([0.0, 0.1, 0.5, 1.0])
    chi = np.asarray(chi1_grid(jax.nn.relu, jnp.sqrt(sigma_w2), sigma_b))
    np.testing.assert_allclose(chi, np.repeat(sigma_w2[:, None] / 2, 4, axis=1), rtol=1e-6)
    assert np.all(chi[sigma_w2 < 2] < 1) and np.all(chi[sigma_w2 > 2] > 1)


def test_the_mean_field_functions_take_a_kink_off_zero():
    """relu(h - 1), kink at 1, in closed form: for h ~ N(0, q) with s = sqrt(q), E[phi'^2] =
    P(h > 1), E[phi] = s pdf(1/s) - P(h > 1), E[phi^2] = (q + 1) P(h > 1) - s pdf(1/s)."""
    shifted = lambda h: jax.nn.relu(h - 1.0)  # noqa: E731

    def closed_form(q):
        s = np.sqrt(q)
        tail, density = stats.norm.sf(1 / s), stats.norm.pdf(1 / s)
        return s * density - tail, (q + 1) * tail - s * density, tail

    with jax.enable_x64(True):
        mean, second, grad = closed_form(2.5)
        found = float(variance_map(shifted, 2.5, 1.3, 0.2, kinks=(1.0,)))
        assert found == pytest.approx(1.3**2 * second + 0.2**2, abs=1e-12)
        assert abs(float(variance_map(shifted, 2.5, 1.3, 0.2)) - found) > 1e-9
        assert float(backward_factor(shifted, 1.3, 2.5, kinks=(1.0,))) == pytest.approx(
            1.3**2 * grad, abs=1e-12
        )
        mean, second, grad = closed_form(1.0)
        assert float(batch_norm_backward_factor(shifted, kinks=(1.0,))) == pytest.approx(
            grad / (second - mean**2), abs=1e-10
        )
        weights = (1.5, 2.0)
        grid = np.asarray(chi1_grid(shifted, jnp.array(weights), jnp.array([0.3]), kinks=(1.0,)))
        for i, w in enumerate(weights):
            q = fixed_point(shifted, w, 0.3, kinks=(1.0,))
            assert float(variance_map(shifted, q, w, 0.3, kinks=(1.0,))) == pytest.approx(
                float(q), rel=1e-9
            )
            assert grid[i, 0] == pytest.approx(w**2 * closed_form(float(q))[2], abs=1e-10)


@functools.partial(jax.jit, static_argnums=(0, 2, 4, 5))
def _random_stack(act, rate: float, depth: int, seed: int, width: int = 1024, batch: int = 1024):
    """A wide random Dense -> BatchNorm -> act -> Dropout stack, simulated: the training pass
    (batch statistics, dropout on) gives the running statistics the test pass (dropout off)
    normalises with. Per block: the test pass's within-unit variance (mean over units) and the
    variance across units of its unit means (estimated without the sampling spread), after
    BatchNorm."""
    keys = jax.random.split(jax.random.key(seed), 2 * depth + 1)
    x_train = x_test = jax.random.normal(keys[0], (batch, width))
    signal, offset = [], []
    for layer in range(depth):
        w = jax.random.normal(keys[2 * layer + 1], (width, width)) / np.sqrt(width)
        y_train, y_test = x_train @ w, x_test @ w
        mean, std = y_train.mean(0), y_train.std(0)
        u_train, u_test = (y_train - mean) / std, (y_test - mean) / std
        signal.append(u_test.var(0).mean())
        # the unit means' spread, less what sampling `batch` examples adds to it
        offset.append(u_test.mean(0).var() - u_test.var(0).mean() / batch)
        keep = jax.random.bernoulli(keys[2 * layer + 2], 1 - rate, u_train.shape)
        x_train = jnp.where(keep, act(u_train) / (1 - rate), 0.0)
        x_test = act(u_test)
    return jnp.stack(signal), jnp.stack(offset)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_the_dropout_variance_shift_agrees_with_simulated_wide_networks(name):
    """Over 8 blocks, three random 1024-wide stacks of 1024 examples on average (3.1% and 12.4%
    off at most, measured; 2.4% and 10% with 2048 examples): the signal within 5%, the offsets
    (from the third block, where they exceed 0.001) within 20%. One stack alone strays by up to
    22% at a block, with the weights drawn there. The first block has no offsets: its estimate
    is the sampling correction alone, -1/1024."""
    act = get_activation(name)
    theory = dropout_variance_shift(act, 0.25, 8)
    signal, offset = np.mean([_random_stack(act, 0.25, 8, seed) for seed in (0, 1, 2)], axis=0)
    np.testing.assert_allclose(np.asarray(theory.signal), signal, rtol=0.05)
    assert abs(offset[0]) < 1e-3 and float(theory.offset[0]) == 0.0
    np.testing.assert_allclose(np.asarray(theory.offset)[2:], offset[2:], rtol=0.2)


def test_the_dropout_variance_shift_in_closed_form():
    """The identity: the signal shrinks by the keep probability per block, with no offsets.
    ReLU in the second block (no offsets yet; homogeneous): Var relu(z) over the training-time
    variance with dropout. Deep in the stack, Nish keeps far more signal than SiLU."""
    identity = dropout_variance_shift(lambda x: x, 0.2, 6, kinks=())
    np.testing.assert_allclose(np.asarray(identity.signal), 0.8 ** np.arange(6), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(identity.factor), 0.8, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(identity.total), np.asarray(identity.signal))
    relu_var = 0.5 - 0.5 / np.pi
    relu = dropout_variance_shift(jax.nn.relu, 0.25, 2)
    assert float(relu.signal[1]) == pytest.approx(relu_var / (relu_var + 0.5 / 3), rel=1e-5)
    nish = dropout_variance_shift(get_activation("nish"), 0.25, 25)
    silu = dropout_variance_shift(jax.nn.silu, 0.25, 25)
    assert float(nish.factor[-1]) > 0.9 > 0.7 > float(silu.factor[-1])
    assert float(nish.signal[-1]) > 1000 * float(silu.signal[-1])
    with pytest.raises(ValueError, match="rate must be in"):
        dropout_variance_shift(jax.nn.silu, 1.0, 3)
    with pytest.raises(ValueError, match="depth must be an integer >= 1, got 0"):
        dropout_variance_shift(jax.nn.silu, 0.25, 0)


def test_a_zoo_mlp_on_mnist_shows_the_predicted_dropout_variance_shift():
    """The zoo MLP (Glorot kernels, no stem, dropout 0.25) whose running statistics are one
    training batch's (momentum 0: dropout on), on 2,048 real MNIST images: eval over train mode
    of each activation's input, per unit (``pre_unit_var``, the signal) and over all elements
    (``pre_var``, the total), as :func:`dropout_variance_shift` predicts (Nish: within 2.7% over
    three seeds, measured; correlated MNIST inputs put SiLU, whose signal decays faster, 6-10%
    off)."""
    data = load("mnist", "test").subset(2048)
    images = (data.images / 255.0 - np.asarray(data.mean)) / np.asarray(data.std)
    inputs = jnp.asarray(images, jnp.float32)
    model = create_model("mlp", num_classes=10, act="nish", depth=6, width=1024, bn_momentum=0.0)
    variables = model.init(jax.random.key(0), inputs[:1])
    key = jax.random.key(100)
    _, stats = model.apply(
        variables, inputs, train=True, mutable=["batch_stats"], rngs={"dropout": key}
    )
    rows = signal_propagation(model, {**variables, **stats}, inputs, dropout_key=key)
    train = {row.index: row for row in rows if row.mode == "train"}
    evals = [row for row in rows if row.mode == "eval"]
    theory = dropout_variance_shift(get_activation("nish"), 0.25, 6)
    signal = [row.pre_unit_var / train[row.index].pre_unit_var for row in evals]
    total = [row.pre_var / train[row.index].pre_var for row in evals]
    np.testing.assert_allclose(signal, np.asarray(theory.signal), rtol=0.05)
    np.testing.assert_allclose(total, np.asarray(theory.total), rtol=0.05)


def test_the_dropout_shift_figure_plots_the_theory():
    from experiments.theory import dropout_shift

    figure = dropout_shift.make_figure(("relu", "nish"), depth=4)
    left, right = figure.axes
    assert [line.get_label() for line in left.lines] == ["relu", "nish"]
    theory = dropout_variance_shift(get_activation("nish"), 0.25, 4)
    np.testing.assert_allclose(left.lines[1].get_ydata(), np.asarray(theory.signal))
    np.testing.assert_allclose(right.lines[1].get_ydata(), np.asarray(theory.offset))
