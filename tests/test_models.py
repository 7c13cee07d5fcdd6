"""The model registry and the networks: errors, activation sites, sizes, the ImageNet and CIFAR
stems, init, dtypes, BatchNorm."""

from __future__ import annotations

import functools
import math
import re

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cifar_images import cifar10_images

import nish_jax.models
from nish_jax.models import create_model, get_spec, list_models
from nish_jax.models.layers import STEMS, batch_norm, merge_window_axes
from nish_jax.models.resnet import BasicBlock, _conv

# How many times each network calls its activation (stems, blocks, heads) in one forward pass,
# with its default options. Every registered model must be listed.
EXPECTED_ACT_SITES = {
    "mlp": 15,  # one per hidden layer
    "cnn": 5,  # one per conv layer
    "resnet18": 17,  # stem + 2 per block x 8 blocks
    "senet18": 25,  # resnet18's + 1 per SE unit x 8 blocks
    "preact_resnet18": 17,  # 2 per block x 8 blocks + the final BN-act
    "squeezenet1_0": 26,  # stem + 3 per Fire x 8 + classifier
    "squeezenet1_1": 26,
    # The EfficientNet family: as many as the act-module calls of timm's reference forward pass
    # (test_efficientnet checks that), SE gates being sigmoids: stem + head, and per block
    # ds 1, ir 2, er 1, cn 1, plus 1 per SE.
    "mobilenetv2_100": 35,  # 2 + ds 1 + 16 ir x 2
    "efficientnet_b0": 49,  # 2 + ds (1 + SE) + 15 ir x (2 + SE)
    "tf_efficientnet_b0": 49,
    "tf_efficientnetv2_s": 102,  # 2 + 2 cn + 8 er + 30 ir x (2 + SE)
    "tinynet_b": 49,  # depths round(1.1 x b0's) = b0's
    "tinynet_c": 46,  # 2 + ds (1 + SE) + 14 ir x (2 + SE)
}

# Parameter counts (BatchNorm statistics excluded) of the reference models at 1000 classes.
REFERENCE_PARAM_COUNTS = {
    "resnet18": 11_689_512,
    "senet18": 11_779_624,  # timm's seresnet18
    "squeezenet1_0": 1_248_424,
    "squeezenet1_1": 1_235_496,
    "preact_resnet18": 11_680_040,  # He et al.'s CIFAR network; no library reference
    "mobilenetv2_100": 3_504_872,
    "efficientnet_b0": 5_288_548,
    "tf_efficientnet_b0": 5_288_548,
    "tf_efficientnetv2_s": 21_458_488,
    "tinynet_b": 3_730_562,
    "tinynet_c": 2_457_234,
}

MY_FAMILIES = ("resnet18", "senet18", "preact_resnet18", "squeezenet1_0", "squeezenet1_1")
# The image networks: each takes stem="imagenet" or "cifar".
IMAGE_MODELS = [name for name in list_models() if get_spec(name).input_shape[-1] == 3]


def _abstract_variables(name: str, num_classes: int = 1000, **create_options) -> dict:
    """The model's variables as shapes only (``jax.eval_shape``: nothing is computed)."""
    model = create_model(name, num_classes=num_classes, **create_options)
    sample = jnp.zeros((1, *get_spec(name).input_shape), jnp.float32)
    return jax.eval_shape(lambda: model.init(jax.random.key(0), sample, train=False))


def _real_batch(size: int) -> jnp.ndarray:
    return jnp.asarray(cifar10_images(2, size))


# --- the registry API -------------------------------------------------------------------------


def test_list_models_names_the_reference_networks() -> None:
    assert set(MY_FAMILIES) <= set(list_models())
    assert list_models() == sorted(list_models())


def test_list_models_filters_with_wildcards_as_timm() -> None:
    assert list_models("*resnet18") == ["preact_resnet18", "resnet18"]
    assert list_models("squeezenet1_?") == ["squeezenet1_0", "squeezenet1_1"]
    assert list_models("*efficientnet*") == [
        "efficientnet_b0",
        "tf_efficientnet_b0",
        "tf_efficientnetv2_s",
    ]
    assert list_models("resnet*") == ["resnet18"] and list_models("vit*") == []
    assert list_models() == list_models("*")


def test_num_classes_defaults_to_imagenets_1000_as_in_timm() -> None:
    assert create_model("resnet18").num_classes == 1000


@pytest.mark.parametrize("name", list_models())
def test_every_model_has_timms_in_chans_and_flaxs_dtypes(name: str) -> None:
    assert {"in_chans", "dtype", "param_dtype"} <= set(get_spec(name).options)


@pytest.mark.parametrize(
    "name, stem_kernel",
    [("resnet18", "conv1"), ("squeezenet1_1", "features_0"), ("efficientnet_b0", "conv_stem")],
)
def test_in_chans_sets_the_input_channels(name: str, stem_kernel: str) -> None:
    model = create_model(name, num_classes=10, in_chans=4)
    sample = jnp.zeros((1, 32, 32, 4))
    params = jax.eval_shape(lambda: model.init(jax.random.key(0), sample))["params"]
    assert params[stem_kernel]["kernel"].shape[2] == 4


def test_unknown_model_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"resnet19.*resnet18.*squeezenet1_1"):
        create_model("resnet19", num_classes=10)


def test_unknown_activation_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"nosuch.*nish"):
        create_model("resnet18", num_classes=10, act="nosuch")


def test_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"'depth'.*stem"):
        create_model("resnet18", num_classes=10, depth=3)


def test_unknown_stem_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"'tiny'.*'imagenet', 'cifar'"):
        create_model("resnet18", num_classes=10, stem="tiny")


def test_bad_dropout_is_refused() -> None:
    with pytest.raises(ValueError, match=r"dropout.*1\.5"):
        create_model("squeezenet1_0", num_classes=10, dropout=1.5)


@pytest.mark.parametrize("num_classes", [0, -3, 2.5, True])
def test_bad_number_of_classes_is_refused(num_classes) -> None:
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        create_model("resnet18", num_classes=num_classes)


# Degenerate values of every numeric option a model has: counts (layers, channels) must be
# integers >= 1, dropout probabilities in [0, 1).
COUNT_OPTIONS = ("depth", "width", "in_chans")
RATE_OPTIONS = ("dropout", "drop_rate", "drop_path_rate")
DEGENERATE = [
    (name, option, value)
    for name in list_models()
    for option in get_spec(name).options
    for value in (
        (0, -1, 2.5, True)
        if option in COUNT_OPTIONS
        else (1.0, -0.1, "0.5")
        if option in RATE_OPTIONS
        else ()
    )
]


def test_every_numeric_option_is_checked() -> None:
    numeric = {option for _, option, _ in DEGENERATE}
    assert {"depth", "width", "in_chans", "dropout", "drop_rate", "drop_path_rate"} <= numeric


@pytest.mark.parametrize("name, option, value", DEGENERATE)
def test_degenerate_option_is_a_clear_error(name: str, option: str, value) -> None:
    requirement = "integer >= 1" if option in COUNT_OPTIONS else r"number in \[0, 1\)"
    message = (
        rf"{name} option {option}={re.escape(repr(value))} is not valid; must be an? {requirement}"
    )
    with pytest.raises(ValueError, match=message):
        create_model(name, num_classes=10, **{option: value})


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_unknown_stem_of_any_image_model_lists_the_valid_ones(name: str) -> None:
    with pytest.raises(ValueError, match=rf"{name} option stem='tiny'.*'imagenet', 'cifar'"):
        create_model(name, num_classes=10, stem="tiny")


def test_flag_option_must_be_a_boolean() -> None:
    with pytest.raises(ValueError, match=r"senet18 option zero_init_last='no'.*True or False"):
        create_model("senet18", num_classes=10, zero_init_last="no")


def test_options_fixed_by_the_registry_are_not_options() -> None:
    # resnet18 and senet18 are one module class; which one a name builds is not an option.
    with pytest.raises(ValueError, match=r"unknown option\(s\) 'squeeze_excite'"):
        create_model("resnet18", num_classes=10, squeeze_excite=True)
    assert "squeeze_excite" not in get_spec("senet18").options


def test_default_activation_is_relu() -> None:
    for name in MY_FAMILIES:
        assert create_model(name, num_classes=10).act is jax.nn.relu


@pytest.mark.parametrize("name", MY_FAMILIES)
@pytest.mark.parametrize("shape", [(2, 32, 32), (2, 32, 32, 1), (32, 32, 3, 1, 1)])
def test_wrong_input_shape_names_the_expected_one(name: str, shape: tuple[int, ...]) -> None:
    model = create_model(name, num_classes=10)
    with pytest.raises(ValueError, match=r"\(batch, height, width, 3\)"):
        jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(shape, jnp.float32)))


# --- every nonlinearity is `act` ----------------------------------------------------------------


@pytest.mark.parametrize("name", list_models())
def test_every_activation_site_uses_act(name: str) -> None:
    assert name in EXPECTED_ACT_SITES, (
        f"add the number of activation sites of {name!r} to EXPECTED_ACT_SITES"
    )
    calls = []

    def counting_relu(x: jax.Array) -> jax.Array:
        calls.append(x.shape)
        return jax.nn.relu(x)

    model = create_model(name, num_classes=10, act=counting_relu)
    sample = jnp.zeros((1, *get_spec(name).input_shape), jnp.float32)
    jax.eval_shape(lambda: model.init(jax.random.key(0), sample, train=False))
    assert len(calls) == EXPECTED_ACT_SITES[name]


# --- sizes and initialisation ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REFERENCE_PARAM_COUNTS))
def test_parameter_count_matches_the_reference(name: str) -> None:
    if name not in list_models():
        pytest.skip(f"{name} is not registered")
    params = _abstract_variables(name)["params"]
    assert sum(leaf.size for leaf in jax.tree.leaves(params)) == REFERENCE_PARAM_COUNTS[name]


def test_cifar_stem_keeps_the_resolution() -> None:
    imagenet = _abstract_variables("resnet18")["params"]["conv1"]["kernel"]
    cifar = _abstract_variables("resnet18", stem="cifar")["params"]["conv1"]["kernel"]
    assert (imagenet.shape, cifar.shape) == ((7, 7, 3, 64), (3, 3, 3, 64))


# --- the ImageNet and CIFAR variants, as nish_jax.models documents them --------------------------


def _documented_variants() -> dict[tuple[str, str], tuple[int, int, bool]]:
    """(model, stem) -> (spatial size at the pooling, parameters, whether it is the default)."""
    rows = re.findall(
        r"^\| (\w+) \| (\w+)(\*?) \| (\d+)x\d+ \| ([\d,]+) \|$",
        nish_jax.models.__doc__,
        re.MULTILINE,
    )
    return {
        (name, stem): (int(size), int(count.replace(",", "")), star == "*")
        for name, stem, star, size, count in rows
    }


DOCUMENTED = _documented_variants()


def test_every_image_model_documents_both_stems() -> None:
    assert set(DOCUMENTED) == {(name, stem) for name in IMAGE_MODELS for stem in STEMS}


@functools.cache
def _trace_at_32(name: str, stem: str) -> tuple[tuple[int, ...], list[tuple[int, ...]], dict]:
    """(logits shape, shapes of every activation call, parameter shapes) on a 32x32 batch of 2;
    shapes only (``jax.eval_shape``), nothing is computed."""
    calls = []

    def counting_relu(x: jax.Array) -> jax.Array:
        calls.append(x.shape)
        return jax.nn.relu(x)

    model = create_model(name, num_classes=10, act=counting_relu, stem=stem)
    sample = jnp.zeros((2, 32, 32, 3), jnp.float32)
    logits, variables = jax.eval_shape(
        lambda: model.init_with_output(jax.random.key(0), sample, train=False)
    )
    return logits.shape, calls, variables["params"]


@pytest.mark.parametrize("name, stem", sorted(DOCUMENTED))
def test_stem_variant_is_as_documented(name: str, stem: str) -> None:
    size, count, default = DOCUMENTED[name, stem]
    logits, calls, params = _trace_at_32(name, stem)
    assert logits == (2, 10)
    assert len(calls) == EXPECTED_ACT_SITES[name]  # every site uses act, CIFAR stem or not
    # The last activation is that of the features entering the global pooling.
    assert calls[-1][1:3] == (size, size)
    assert sum(leaf.size for leaf in jax.tree.leaves(params)) == count
    assert (create_model(name, num_classes=10).stem == stem) == default


# The stem conv kernel, the one parameter the CIFAR stem may reshape.
STEM_KERNELS = {"squeezenet1_0": "features_0/kernel", "squeezenet1_1": "features_0/kernel"}


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_cifar_variant_has_the_reference_layers(name: str) -> None:
    """Same layers and names as the ImageNet variant; only the stem conv's kernel may differ."""
    imagenet = _flat(_trace_at_32(name, "imagenet")[2])
    cifar = _flat(_trace_at_32(name, "cifar")[2])
    assert imagenet.keys() == cifar.keys()
    reshaped = {key for key in imagenet if imagenet[key].shape != cifar[key].shape}
    assert reshaped <= {STEM_KERNELS.get(name, "conv1/kernel")}


@pytest.mark.parametrize("name", sorted(set(REFERENCE_PARAM_COUNTS) & set(IMAGE_MODELS)))
def test_documented_counts_follow_from_the_reference_ones(name: str) -> None:
    """The 10-class count of the reference stem is the 1000-class reference's, less the classifier
    rows of 990 classes (each as wide as the features entering the classifier, plus a bias)."""
    stem = "cifar" if name == "preact_resnet18" else "imagenet"
    head = (get_spec(name).classifier or "fc").replace(".", "_")
    width = _flat(_trace_at_32(name, stem)[2])[f"{head}/kernel"].shape[-2]
    expected = REFERENCE_PARAM_COUNTS[name] - 990 * (width + 1)
    assert DOCUMENTED[name, stem][1] == expected


# Four small configurations, each initialised once (``unsafe_rbg`` keys initialise fastest on CPU).
CONFIGS = {
    "resnet18": ({"stem": "cifar"}, 32),
    "senet18": ({"stem": "cifar"}, 32),
    "preact_resnet18": ({}, 32),
    "squeezenet1_1": ({}, 64),
}


@pytest.fixture(scope="module")
def initialised() -> dict[str, dict]:
    """Float32 variables of each of CONFIGS at 10 classes."""
    variables = {}
    for name, (options, size) in CONFIGS.items():
        model = create_model(name, num_classes=10, **options)
        sample = jnp.zeros((2, size, size, 3), jnp.float32)
        variables[name] = jax.jit(model.init)(jax.random.key(0, impl="unsafe_rbg"), sample)
    return variables


def _flat(params: dict) -> dict:
    return dict(
        ("/".join(k), v if isinstance(v, jax.ShapeDtypeStruct) else np.asarray(v))
        for k, v in flax.traverse_util.flatten_dict(params).items()
    )


def test_resnet18_init_is_timms(initialised) -> None:
    params = _flat(initialised["resnet18"]["params"])
    kernel = params["layer3_0/conv2/kernel"]  # 3x3, 256 -> 256
    np.testing.assert_allclose(kernel.std(), math.sqrt(2 / (9 * 256)), rtol=0.02)
    assert np.abs(kernel).max() > 4 * kernel.std()  # an untruncated normal
    assert np.all(params["layer3_0/bn1/scale"] == 1) and np.all(params["layer3_0/bn1/bias"] == 0)
    assert np.all(params["layer3_0/bn2/scale"] == 0)  # timm's zero_init_last
    bound = 1 / math.sqrt(512)  # nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias too
    for values in (params["fc/kernel"], params["fc/bias"]):
        assert np.abs(values).max() <= bound
    assert np.abs(params["fc/kernel"]).max() > 0.95 * bound


@pytest.mark.parametrize(
    "init",
    [
        flax.linen.initializers.variance_scaling(2.0, "fan_out", "normal"),
        flax.linen.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform"),
        flax.linen.initializers.he_normal(),  # truncated normal
        flax.linen.initializers.glorot_uniform(),  # fan_in and fan_out
        flax.linen.initializers.normal(0.01),
    ],
    ids=["kaiming-normal-fan-out", "torch-default", "he-normal", "glorot-uniform", "normal"],
)
@pytest.mark.parametrize("shape", [(3, 3, 16, 32), (5, 5, 1, 20)])
def test_conv_kernels_drawn_merged_are_the_library_initialisers_numbers(init, shape) -> None:
    """The conv inits draw (H*W, I, O) to compile faster: bit for bit the same kernels."""
    key = jax.random.key(7)
    merged = jax.jit(merge_window_axes(init), static_argnums=1)(key, shape)
    assert merged.shape == shape
    np.testing.assert_array_equal(merged, jax.jit(init, static_argnums=1)(key, shape))


def test_zero_init_last_can_be_turned_off() -> None:
    block = BasicBlock(
        features=8,
        strides=1,
        act=jax.nn.relu,
        conv=functools.partial(_conv, dtype=jnp.float32, param_dtype=jnp.float32),
        norm=batch_norm(False, jnp.float32, jnp.float32),
        zero_init_last=False,
    )
    variables = block.init(jax.random.key(0), jnp.zeros((1, 4, 4, 8), jnp.float32))
    assert np.all(variables["params"]["bn2"]["scale"] == 1)


def test_senet18_squeeze_excitation_is_timms(initialised) -> None:
    params = _flat(initialised["senet18"]["params"])
    # timm's SE width: channels / 16 rounded to a multiple of 8, at least 8.
    widths = [params[f"layer{stage}_1/se/fc1/kernel"].shape for stage in range(1, 5)]
    assert widths == [(1, 1, 64, 8), (1, 1, 128, 8), (1, 1, 256, 16), (1, 1, 512, 32)]
    reduce, expand = params["layer4_0/se/fc1/kernel"], params["layer4_0/se/fc2/kernel"]
    # timm's ResNet init for every conv: normal(0, sqrt(2 / fan_out)); biases nn.Conv2d's default.
    np.testing.assert_allclose(reduce.std(), math.sqrt(2 / 32), rtol=0.05)
    np.testing.assert_allclose(expand.std(), math.sqrt(2 / 512), rtol=0.05)
    for key, fan_in in [("layer4_0/se/fc1/bias", 512), ("layer4_0/se/fc2/bias", 32)]:
        bound = 1 / math.sqrt(fan_in)
        assert bound * 0.9 < np.abs(params[key]).max() <= bound
    assert np.all(params["layer4_0/bn2/scale"] == 0)  # zero_init_last, as resnet18


def test_squeezenet_init_is_torchvisions(initialised) -> None:
    params = _flat(initialised["squeezenet1_1"]["params"])
    kernel = params["features_12/expand3x3/kernel"]  # 3x3, 64 -> 256, kaiming-uniform
    bound = math.sqrt(6 / (9 * 64))
    assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.99 * bound
    np.testing.assert_allclose(kernel.std(), bound / math.sqrt(3), rtol=0.02)
    np.testing.assert_allclose(params["classifier_1/kernel"].std(), 0.01, rtol=0.1)
    assert all(np.all(v == 0) for k, v in params.items() if k.endswith("bias"))


# --- dtypes, BatchNorm and dropout ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_bfloat16_computation_keeps_float32_parameters(name: str, initialised) -> None:
    options, size = CONFIGS[name]
    images = _real_batch(size)
    exact = create_model(name, num_classes=10, act="nish", **options)
    half = create_model(name, num_classes=10, act="nish", dtype=jnp.bfloat16, **options)
    half_variables = jax.eval_shape(lambda: half.init(jax.random.key(0), images))
    assert {leaf.dtype for leaf in jax.tree.leaves(half_variables)} == {jnp.dtype(jnp.float32)}
    variables = initialised[name]
    expected = jax.jit(exact.apply)(variables, images)
    logits = jax.jit(half.apply)(variables, images)
    assert logits.dtype == jnp.bfloat16 and logits.shape == (2, 10)
    scale = float(jnp.abs(expected).max())
    np.testing.assert_allclose(np.asarray(logits, np.float32), expected, atol=0.05 * scale)


@pytest.mark.parametrize("name", list_models())
def test_param_dtype_sets_the_parameters_and_dtype_the_computation(name: str) -> None:
    channels = get_spec(name).input_shape[-1]
    sample = jnp.zeros((2, 32, 32, channels), jnp.float32)
    model = create_model(name, num_classes=10, dtype=jnp.float16, param_dtype=jnp.bfloat16)
    logits, variables = jax.eval_shape(
        lambda: model.init_with_output(jax.random.key(0), sample, train=False)
    )
    assert {leaf.dtype for leaf in jax.tree.leaves(variables["params"])} == {
        jnp.dtype(jnp.bfloat16)
    }
    # BatchNorm's running statistics stay float32, as in flax.
    stats = {leaf.dtype for leaf in jax.tree.leaves(variables.get("batch_stats", {}))}
    assert stats <= {jnp.dtype(jnp.float32)}
    assert logits.dtype == jnp.float16


@pytest.mark.parametrize("name", ["resnet18", "preact_resnet18"])
def test_batch_norm_trains_on_batch_statistics_and_evaluates_on_running_ones(
    name: str, initialised
) -> None:
    options, size = CONFIGS[name]
    images = _real_batch(size)
    model = create_model(name, num_classes=10, **options)
    variables = initialised[name]
    train_logits, updates = jax.jit(
        lambda v: model.apply(v, images, train=True, mutable=["batch_stats"])
    )(variables)
    evaluate = jax.jit(model.apply)
    eval_logits = evaluate(variables, images)
    assert not np.allclose(train_logits, eval_logits)
    old, new = variables["batch_stats"], updates["batch_stats"]
    assert jax.tree.structure(old) == jax.tree.structure(new)
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), old, new)
    assert all(jax.tree.leaves(moved))  # every running statistic moved (momentum 0.1)
    np.testing.assert_array_equal(evaluate(variables, images), eval_logits)


def test_dropout_is_random_in_training_only(initialised) -> None:
    images = _real_batch(CONFIGS["squeezenet1_1"][1])
    model = create_model("squeezenet1_1", num_classes=10)
    variables = initialised["squeezenet1_1"]

    def apply(key: jax.Array, train: bool) -> jax.Array:
        return model.apply(variables, images, train=train, rngs={"dropout": key})

    train = jax.jit(lambda key: apply(key, True))
    evaluate = jax.jit(lambda key: apply(key, False))
    assert not np.allclose(train(jax.random.key(1)), train(jax.random.key(2)))
    np.testing.assert_array_equal(evaluate(jax.random.key(1)), evaluate(jax.random.key(2)))
