"""Converted timm/torchvision weights give the reference's logits on real images (eval mode),
from a state dict in memory or a weight file."""

from __future__ import annotations

import sys

import jax
import numpy as np
import pytest
from cifar_images import cifar10_images

from nish_jax import nish
from nish_jax.models import create_model, from_timm, load_timm_checkpoint

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
torchvision = pytest.importorskip("torchvision")

NUM_CLASSES = 10
IMAGE_SIZE = 64
# Our models with a timm reference, by timm's name (the others' reference is torchvision's).
TIMM_NAMES = {"resnet18": "resnet18", "senet18": "seresnet18"}


def _randomise_batch_norm(model) -> None:
    """Random running statistics and affine parameters, so eval mode is not the identity."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            channels = module.num_features
            module.running_mean.copy_(0.2 * torch.randn(channels))
            module.running_var.copy_(torch.empty(channels).uniform_(0.5, 1.5))
            module.weight.data.copy_(torch.empty(channels).uniform_(0.5, 1.5))
            module.bias.data.copy_(0.2 * torch.randn(channels))


def _reference(name: str):
    torch.manual_seed(0)
    if name in TIMM_NAMES:
        model = timm.create_model(TIMM_NAMES[name], pretrained=False, num_classes=NUM_CLASSES)
    else:
        model = getattr(torchvision.models, name)(weights=None, num_classes=NUM_CLASSES)
        # torchvision's N(0, 0.01) classifier gives logits near 0; a wider one tests more.
        torch.nn.init.kaiming_uniform_(model.classifier[1].weight)
    with torch.no_grad():
        _randomise_batch_norm(model)
    return model.eval()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return cifar10_images(2, IMAGE_SIZE)


@pytest.mark.parametrize("name", ["resnet18", "senet18", "squeezenet1_0", "squeezenet1_1"])
def test_converted_weights_give_the_reference_logits(name: str, images: np.ndarray) -> None:
    reference = _reference(name)
    with torch.no_grad():
        expected = reference(torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()
    variables = from_timm(name, reference.state_dict())
    model = create_model(name, num_classes=NUM_CLASSES)
    logits = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, images)
    assert logits.shape == expected.shape == (len(images), NUM_CLASSES)
    assert np.abs(expected).max() > 0.1  # the comparison is not between near-zero numbers
    np.testing.assert_allclose(np.asarray(logits), expected, rtol=0, atol=1e-4)


def _write_weights(state: dict, path) -> None:
    """``state`` as timm publishes weights (.safetensors), as a plain PyTorch state dict (.pth),
    or inside a training checkpoint (.pt, under "state_dict")."""
    if path.suffix == ".safetensors":
        from safetensors.numpy import save_file

        save_file({key: value.numpy() for key, value in state.items()}, str(path))
    elif path.suffix == ".pt":
        torch.save({"epoch": 3, "arch": "resnet18", "state_dict": state}, path)
    else:
        torch.save(state, path)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth", ".pt"])
def test_weight_files_load_with_the_reference_logits(suffix: str, images, tmp_path) -> None:
    reference = _reference("resnet18")
    with torch.no_grad():
        expected = reference(torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()
    path = tmp_path / f"model{suffix}"
    _write_weights(reference.state_dict(), path)
    model, variables = load_timm_checkpoint("resnet18", path)
    assert model.num_classes == NUM_CLASSES  # read from the file's classifier
    logits = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, images)
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(np.asarray(logits), expected, rtol=0, atol=1e-4)
    # create_model's options pass through: the same weights under another activation.
    assert load_timm_checkpoint("resnet18", str(path), act="nish")[0].act is nish


def test_weight_file_errors_name_the_problem(tmp_path, monkeypatch) -> None:
    with pytest.raises(ValueError, match=r"model\.ckpt.*\.safetensors, \.pth, \.pt, \.bin"):
        load_timm_checkpoint("resnet18", tmp_path / "model.ckpt")
    with pytest.raises(FileNotFoundError, match="absent.safetensors"):
        load_timm_checkpoint("resnet18", tmp_path / "absent.safetensors")
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"pip install 'nish-jax\[timm\]'"):
        load_timm_checkpoint("resnet18", path)
    monkeypatch.undo()
    _write_weights(_timm_resnet18_state(), path)
    with pytest.raises(ValueError, match=r"conv1\.weight"):  # from_timm's checks apply
        load_timm_checkpoint("resnet18", path, stem="cifar")


def _with_cifar_stem(name: str, model):
    """The reference with our stem="cifar": a 3x3 stride-1 padded stem conv (PyTorch's default
    init) and no max-pool after it."""
    if name in TIMM_NAMES:
        model.conv1 = torch.nn.Conv2d(3, 64, 3, padding=1, bias=False)
        model.maxpool = torch.nn.Identity()
    else:
        model.features[0] = torch.nn.Conv2d(3, model.features[0].out_channels, 3, padding=1)
        model.features[2] = torch.nn.Identity()
    return model.eval()


@pytest.mark.parametrize("name", ["resnet18", "senet18", "squeezenet1_0", "squeezenet1_1"])
def test_cifar_stem_is_the_reference_with_a_3x3_stride_1_stem(name: str) -> None:
    images = cifar10_images(2, 32)
    reference = _with_cifar_stem(name, _reference(name))
    with torch.no_grad():
        expected = reference(torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()
    variables = from_timm(name, reference.state_dict(), stem="cifar")
    model = create_model(name, num_classes=NUM_CLASSES, stem="cifar")
    logits = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, images)
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(np.asarray(logits), expected, rtol=0, atol=1e-4)


def _timm_resnet18_state() -> dict:
    return dict(
        timm.create_model("resnet18", pretrained=False, num_classes=NUM_CLASSES).state_dict()
    )


def test_missing_key_is_named() -> None:
    state = _timm_resnet18_state()
    del state["layer3.1.bn2.running_var"]
    with pytest.raises(KeyError, match=r"layer3\.1\.bn2\.running_var"):
        from_timm("resnet18", state)


def test_misshapen_key_is_named() -> None:
    state = _timm_resnet18_state()
    state["layer2.0.conv1.weight"] = torch.zeros(128, 64, 1, 1)
    with pytest.raises(ValueError, match=r"layer2\.0\.conv1\.weight"):
        from_timm("resnet18", state)


def test_unused_key_is_named() -> None:
    state = _timm_resnet18_state()
    state["head.extra.weight"] = torch.zeros(3)
    with pytest.raises(KeyError, match=r"head\.extra\.weight"):
        from_timm("resnet18", state)


def test_cifar_stem_does_not_take_imagenet_stem_weights() -> None:
    with pytest.raises(ValueError, match=r"conv1\.weight"):
        from_timm("resnet18", _timm_resnet18_state(), stem="cifar")


def test_model_without_reference_refuses_conversion() -> None:
    with pytest.raises(ValueError, match="preact_resnet18"):
        from_timm("preact_resnet18", _timm_resnet18_state())
