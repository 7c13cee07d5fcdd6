"""The MobileNetV2 / EfficientNet / TinyNet family: architecture strings, sizes, activation sites,
initialisation, stochastic depth, bfloat16, and logits equal to timm's after weight conversion."""

from __future__ import annotations

import functools

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cifar_images import cifar10_images
from test_models import EXPECTED_ACT_SITES  # counted once, for every model

from nish_jax.models import create_model, from_timm
from nish_jax.models.efficientnet import VARIANTS, Block, classifier_kernel_init
from nish_jax.models.efficientnet_arch import (
    BlockConfig,
    ConvLayer,
    build_blocks,
    decode_block_string,
    scale_stage_depth,
)
from nish_jax.models.layers import make_divisible

FAMILY = sorted(VARIANTS)
PARITY_SIZE = 64
PARITY_ATOL = 1e-4  # float32 logits against timm's


def _abstract_variables(model, size: int = PARITY_SIZE):
    sample = jnp.zeros((1, size, size, 3), jnp.float32)
    return jax.eval_shape(lambda: model.init(jax.random.key(0), sample, train=False))


def test_block_strings_decode_like_timm():
    block = decode_block_string("ir_r2_k5_s2_e6_c40_se0.25")
    assert (block.kind, block.repeats, block.kernel, block.stride) == ("ir", 2, 5, 2)
    assert (block.exp_ratio, block.out_channels, block.se_ratio) == (6.0, 40, 0.25)
    assert block.skip is None and decode_block_string("cn_r2_k3_s1_e1_c24_skip").skip is True
    assert make_divisible(16 * 0.54) == 8 and make_divisible(40 * 0.75) == 32
    assert make_divisible(11.5) == 16  # the nearest multiple, 8, would lose more than 10%
    assert scale_stage_depth([3], 0.85, "round") == [3]
    assert scale_stage_depth([3], 1.1, "ceil") == [4]
    # One stage of two strings: strides only in its first block, residual once shapes match.
    (stage,) = build_blocks((("ir_r1_k3_s2_e6_c24_se0.25", "ir_r2_k3_s1_e6_c24"),), 16)
    assert [b.layers[1].stride for b in stage] == [2, 1, 1]
    assert [b.residual for b in stage] == [False, True, True]
    assert [b.se_channels for b in stage] == [4, 0, 0]  # 0.25 of the block's 16 input channels


@pytest.mark.parametrize(
    "text, message",
    [
        ("xx_r1_k3_s1_c16", "unknown block kind 'xx'"),
        ("ir_r1_k3_s1_e6_c16_q3", "unknown option 'q3'"),
        ("ir_r1_k3_e6_c16", "lacks option"),
        ("ds_r1_k3_s1_e6_c16", "no expansion"),
        ("ir_r0_k3_s1_e6_c16", "option r0 .* integers >= 1"),
        ("ir_r1_k3_s1_e6_c0", "option c0 .* integers >= 1"),
        ("ir_r1_k3_s1.5_e6_c16", r"option s1\.5 .* integers >= 1"),
        ("ir_r1_k3_s1_e0_c16", "expansion ratio e0 .* must be > 0"),
    ],
)
def test_bad_block_strings_are_rejected(text, message):
    with pytest.raises(ValueError, match=message):
        decode_block_string(text)


def test_unknown_option_bad_rate_and_bad_input_are_errors():
    with pytest.raises(ValueError, match="drop_connect.*valid options: drop_path_rate, drop_rate"):
        create_model("efficientnet_b0", num_classes=10, drop_connect=0.2)
    with pytest.raises(ValueError, match=r"tinynet_b option drop_path_rate=1\.5 .* number in"):
        create_model("tinynet_b", num_classes=10, drop_path_rate=1.5)
    model = create_model("tinynet_c", num_classes=10)
    with pytest.raises(ValueError, match=r"tinynet_c expects NHWC images .* 3\)"):
        jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 1))))


def _first_strides(model: str, stem: str) -> list[int]:
    """The stride of each stage's first block."""
    blocks = VARIANTS[model].blocks(stem)
    return [max(layer.stride for layer in stage[0].layers) for stage in blocks]


def test_cifar_stem_rewrites_early_strides_in_the_block_builder():
    # MobileNetV2 also keeps its second stage at full resolution (kuangliu/pytorch-cifar).
    assert _first_strides("mobilenetv2_100", "imagenet") == [1, 2, 2, 2, 1, 2, 1]
    assert _first_strides("mobilenetv2_100", "cifar") == [1, 1, 2, 2, 1, 2, 1]
    # The EfficientNets change only the stem; their blocks stay timm's.
    for name in ("efficientnet_b0", "tf_efficientnetv2_s", "tinynet_c"):
        assert _first_strides(name, "cifar") == _first_strides(name, "imagenet")
    (stage,) = build_blocks((("ir_r2_k3_s2_e6_c24",),), 16, stage_strides={0: 1})
    assert [block.layers[1].stride for block in stage] == [1, 1]
    assert stage[1].residual and not stage[0].residual  # 16 -> 24 channels still projects
    with pytest.raises(ValueError, match=r"stage_strides \{3: 1\} must map stage indices 0-0"):
        build_blocks((("ir_r2_k3_s2_e6_c24",),), 16, stage_strides={3: 1})


def test_cifar_stem_takes_timm_weights():
    """Only strides change, so the ImageNet network's variables fit the CIFAR one."""
    imagenet = _abstract_variables(create_model("mobilenetv2_100", num_classes=10), 32)
    cifar = _abstract_variables(create_model("mobilenetv2_100", num_classes=10, stem="cifar"), 32)
    assert jax.tree.map(lambda leaf: leaf.shape, imagenet) == jax.tree.map(
        lambda leaf: leaf.shape, cifar
    )


def test_initialisation_follows_timm():
    (stage,) = build_blocks((("ir_r1_k5_s1_e6_c16_se0.25",),), stem_channels=16)
    block = Block(stage[0], jax.nn.silu, tf_padding=False, bn_eps=1e-5)
    sample = jnp.asarray(cifar10_images(2, 8)).repeat(6, axis=-1)[..., :16]
    params = jax.jit(block.init, static_argnames="train")(jax.random.key(0), sample, train=False)[
        "params"
    ]
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))
    # normal(0, sqrt(2 / fan_out)), fan_out = k * k * out_channels / groups
    expansion = params["conv_pw"]["kernel"]  # (1, 1, 16, 96)
    depthwise = params["conv_dw"]["kernel"]  # (5, 5, 1, 96): fan_out 25
    for kernel, fan_out in [(expansion, 96), (depthwise, 25)]:
        assert float(jnp.std(kernel)) == pytest.approx((2 / fan_out) ** 0.5, rel=0.1)
    assert not params["se"]["conv_reduce"]["bias"].any()
    assert (params["bn1"]["scale"] == 1).all() and not params["bn1"]["bias"].any()
    # The classifier: uniform(+-1 / sqrt(out_features)).
    classifier = classifier_kernel_init(jax.random.key(0), (1280, 100))
    assert 0.99 * 100**-0.5 < float(jnp.abs(classifier).max()) <= 100**-0.5


def _residual_block_on_images(drop_path: float) -> Block:
    """A depthwise-separable block that keeps the 3 image channels, so it adds its input."""
    layers = (
        ConvLayer("conv_dw", "bn1", 3, 3, 1, depthwise=True, act=True),
        ConvLayer("conv_pw", "bn2", 3, 1, 1, depthwise=False, act=False),
    )
    config = BlockConfig("ds", layers, se_channels=0, residual=True)
    return Block(config, jax.nn.relu, tf_padding=False, bn_eps=1e-5, drop_path=drop_path)


def _unchanged(outputs: jax.Array, inputs: jax.Array) -> list[bool]:
    """For each sample, whether the block passed its input through untouched (path dropped)."""
    return [bool(jnp.all(out == image)) for out, image in zip(outputs, inputs, strict=True)]


def test_drop_path_drops_whole_samples_only_in_training():
    block = _residual_block_on_images(drop_path=0.5)
    images = jnp.asarray(cifar10_images(8, 16))
    variables = block.init(jax.random.key(0), images, train=False)
    trained, _ = block.apply(
        variables, images, train=True, rngs={"dropout": jax.random.key(1)}, mutable=["batch_stats"]
    )
    dropped = _unchanged(trained, images)
    assert any(dropped) and not all(dropped)
    evaluated = block.apply(variables, images, train=False)
    without_drop_path = _residual_block_on_images(0.0).apply(variables, images, train=False)
    np.testing.assert_array_equal(evaluated, without_drop_path)
    assert not any(_unchanged(evaluated, images))
    with pytest.raises(flax.errors.InvalidRngError, match="dropout"):
        block.apply(variables, images, train=True, mutable=["batch_stats"])


def test_networks_draw_stochastic_depth_from_the_dropout_rng_in_training_only():
    sample = jnp.zeros((2, 32, 32, 3))
    model = create_model("tinynet_c", num_classes=10, drop_path_rate=0.2)
    variables = _abstract_variables(model, 32)

    def forward(network, train, **rngs):
        apply = functools.partial(network.apply, train=train, mutable=["batch_stats"], rngs=rngs)
        return jax.eval_shape(apply, variables, sample)

    forward(model, train=False)
    forward(model, train=True, dropout=jax.random.key(0))
    forward(create_model("tinynet_c", num_classes=10), train=True)  # no randomness at rate 0
    with pytest.raises(flax.errors.InvalidRngError, match="dropout"):
        forward(model, train=True)


def _randomise_batchnorm(model, images, torch) -> None:
    """Random affine BatchNorm parameters, and running statistics drawn around each layer's
    statistics on real images, so every layer matters and logits depend on the image."""
    generator = torch.Generator().manual_seed(0)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for norm in norms:
            channels = norm.num_features
            norm.weight.copy_(torch.rand(channels, generator=generator) + 0.5)
            norm.bias.copy_(torch.randn(channels, generator=generator) * 0.2)
            norm.reset_running_stats()
            norm.momentum = None  # running statistics = those of the next batch
        model.train()
        model(images)
        model.eval()
        for norm in norms:
            channels = norm.num_features
            shift = torch.randn(channels, generator=generator) * 0.25
            norm.running_mean.add_(shift * norm.running_var.sqrt())
            norm.running_var.mul_(torch.rand(channels, generator=generator) * 0.5 + 0.75)
            norm.running_var.add_(0.1)  # keeps nearly constant channels from amplifying noise


def _set_cifar_strides(name: str, reference, torch) -> None:
    """Give timm's network the strides of our stem="cifar": a stride-1 stem conv, and the
    variant's stage overrides on the strided conv of each stage's first block. (timm's symmetric
    padding is the same at stride 1 and 2 for odd kernels; its TF padding follows the stride.)"""
    reference.conv_stem.stride = (1, 1)
    for stage, stride in VARIANTS[name].cifar_stage_strides:
        convs = reference.blocks[stage][0].modules()
        strided = next(m for m in convs if isinstance(m, torch.nn.Conv2d) and m.stride != (1, 1))
        strided.stride = (stride, stride)


@functools.cache
def _timm_reference(name: str, stem: str = "imagenet"):
    """(converted variables, real images, timm's eval logits, timm's count of activations); with
    ``stem="cifar"``, of timm's network with our CIFAR strides, on 32x32 images."""
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    images = cifar10_images(16, PARITY_SIZE if stem == "imagenet" else 32)
    torch.manual_seed(0)  # timm initialises its weights from the global generator
    reference = timm.create_model(name, pretrained=False)
    if stem == "cifar":
        _set_cifar_strides(name, reference, torch)
    as_torch = torch.from_numpy(images).permute(0, 3, 1, 2)
    _randomise_batchnorm(reference, as_torch, torch)
    with torch.no_grad():
        logits = reference(as_torch[:2]).numpy()
    acts = sum(isinstance(m, torch.nn.SiLU | torch.nn.ReLU6) for m in reference.modules())
    return from_timm(name, reference.state_dict(), stem=stem), images[:2], logits, acts


@pytest.mark.parametrize("name", FAMILY)
def test_converted_timm_weights_give_timm_logits(name):
    variables, images, expected, timm_acts = _timm_reference(name)
    model = create_model(name, num_classes=1000)
    logits = jax.jit(functools.partial(model.apply, train=False))(variables, images)
    assert logits.dtype == jnp.float32
    assert np.abs(expected[0] - expected[1]).max() > 50 * PARITY_ATOL  # the image matters
    np.testing.assert_allclose(np.asarray(logits), expected, rtol=0, atol=PARITY_ATOL)
    assert timm_acts == EXPECTED_ACT_SITES[name]


# One of each padding rule; mobilenetv2_100 also has a stage stride override.
@pytest.mark.parametrize("name", ["mobilenetv2_100", "tf_efficientnet_b0"])
def test_cifar_stem_gives_the_logits_of_timms_network_with_the_same_strides(name):
    variables, images, expected, _ = _timm_reference(name, "cifar")
    model = create_model(name, num_classes=1000, stem="cifar")
    logits = jax.jit(functools.partial(model.apply, train=False))(variables, images)
    assert np.abs(expected[0] - expected[1]).max() > 50 * PARITY_ATOL
    np.testing.assert_allclose(np.asarray(logits), expected, rtol=0, atol=PARITY_ATOL)


def test_bfloat16_forward_is_finite_and_close_to_float32():
    variables, images, expected, _ = _timm_reference("tinynet_c")
    model = create_model("tinynet_c", num_classes=1000, dtype=jnp.bfloat16)
    logits = jax.jit(functools.partial(model.apply, train=False))(variables, images)
    assert logits.dtype == jnp.bfloat16
    logits = np.asarray(logits, np.float32)
    assert np.isfinite(logits).all()
    np.testing.assert_allclose(logits, expected, rtol=0, atol=0.05 * np.abs(expected).max())
