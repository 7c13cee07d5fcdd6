"""Tables 1 and 2 of the paper: the CIFAR-10 table's whole path on a few hundred real images, the
ImageNet-100 class-list checks, and fine-tuning from a converted timm checkpoint on real JPEGs."""

from __future__ import annotations

import csv
import tarfile
from pathlib import Path

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cifar_images import cifar10_archive
from ml_collections import ConfigDict

from experiments import cifar10_table, imagenet100_table
from experiments.configs import cifar10_table as cifar10_configs
from experiments.configs import imagenet100_table as imagenet100_configs
from experiments.configs import mnist_mlp as mnist_configs
from nish_jax.models import create_model
from nish_jax.train import sharding
from nish_jax.train.components import build_setup
from nish_jax.train.pretrained import init_from_file, save_variables

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat")


def _real_jpegs(count_per_class: int, classes=CIFAR_CLASSES) -> dict[str, list[bytes]]:
    """The first ``count_per_class`` CIFAR-10 test JPEGs of each of ``classes``."""
    chosen: dict[str, list[bytes]] = {name: [] for name in classes}
    with tarfile.open(cifar10_archive()) as archive:
        for member in archive:
            label = Path(member.name).parent.name
            wanted = label in chosen and len(chosen[label]) < count_per_class
            if member.name.endswith(".jpg") and wanted:
                chosen[label].append(archive.extractfile(member).read())
            if all(len(files) == count_per_class for files in chosen.values()):
                return chosen
    raise AssertionError(f"the archive has fewer than {count_per_class} images of some class")


def _image_folder(root: Path, class_names, per_split: dict[str, int]) -> Path:
    """``root/<split>/<class name>/<i>.jpg`` from real CIFAR-10 JPEGs (class names may be any)."""
    images = _real_jpegs(sum(per_split.values()))
    for name, files in zip(class_names, images.values(), strict=False):
        start = 0
        for split, count in per_split.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index, data in enumerate(files[start : start + count]):
                (folder / f"{index}.jpg").write_bytes(data)
            start += count
    return root


def _read_csv(path: str) -> list[dict[str, str]]:
    with open(path) as file:
        return list(csv.DictReader(file))


# --- Table 1: CIFAR-10 -------------------------------------------------------------------------


def test_cifar10_table_configs_follow_the_paper_and_reduce_quick():
    paper = cifar10_configs.get_config("paper")
    assert paper.models == (
        "squeezenet1_1", "resnet18", "efficientnet_b0", "tf_efficientnetv2_s", "mobilenetv2_100",
    )  # fmt: skip
    assert paper.activations == ("mish", "nish")
    assert paper.epochs == (50, 100, 150)
    assert (paper.train.optimizer, paper.train.num_runs) == ("adam", 10)
    quick = cifar10_configs.get_config("quick")
    assert quick.name == "quick" and quick.train.train_subset and max(quick.epochs) <= 3
    with pytest.raises(ValueError, match="valid: paper, quick, smoke"):
        cifar10_configs.get_config("full")


def test_cifar10_epoch_columns_share_one_run_only_with_a_constant_rate():
    config = cifar10_configs.get_config("smoke")
    assert cifar10_table.training_plan(config) == [
        ("squeezenet1_1", "mish", 2),
        ("squeezenet1_1", "nish", 2),
    ]
    config.train.schedule = "cosine"
    assert [epochs for *_, epochs in cifar10_table.training_plan(config)] == [1, 2, 1, 2]


def test_cifar10_table_smoke_run_writes_the_papers_layout_with_ci_and_p(tmp_path):
    config = cifar10_configs.get_config("smoke")
    config.results_root = str(tmp_path)
    paths = cifar10_table.run(config)

    assert paths["directory"] == str(tmp_path / "cifar10_table" / "smoke")
    markdown = Path(paths["table_md"]).read_text()
    assert "[SMOKE run: reduced protocol, not the paper's numbers]" in markdown
    for column in ("Mish acc (%)", "Mish loss", "Mish std", "Nish acc (%)", "Nish loss",
                   "Nish std", "Mish acc 95% CI", "Nish acc 95% CI", "Welch p (Nish vs Mish)",
                   "Paper Mish acc / loss / std", "Paper Nish acc / loss / std"):  # fmt: skip
        assert f"| {column} |" in markdown or f"| {column}" in markdown
    assert "JPEG" in markdown and "one 2-epoch run per seed" in markdown

    table = _read_csv(paths["table_csv"])
    assert [(row["config"], row["Network"], row["Epochs"]) for row in table] == [
        ("smoke", "squeezenet1_1", "1"),
        ("smoke", "squeezenet1_1", "2"),
    ]
    for row in table:
        assert 0.0 < float(row["Welch p (Nish vs Mish)"]) <= 1.0
        assert row["Mish acc 95% CI"].startswith("[")
        assert row["Paper Nish acc / loss / std"] == "not in the paper"  # 1 and 2 epochs
        assert 0.0 <= float(row["Nish acc (%)"]) <= 100.0

    runs = _read_csv(paths["runs"])
    assert len(runs) == 2 * 2 * 2  # activations x epoch columns x runs
    assert {row["config"] for row in runs} == {"smoke"}
    nish_epoch2 = [float(r["test_top1_percent"]) for r in runs
                   if (r["activation"], r["epoch"]) == ("nish", "2")]  # fmt: skip
    assert float(table[1]["Nish acc (%)"]) == pytest.approx(np.mean(nish_epoch2), abs=0.01)
    assert "SMOKE run" in Path(paths["summary"]).read_text()
    assert Path(paths["figure"]).stat().st_size > 0


# --- Table 2: ImageNet-100 ---------------------------------------------------------------------


def test_imagenet100_class_list_is_the_cmc_subset():
    wnids = imagenet100_table.class_list()
    assert len(wnids) == len(set(wnids)) == 100
    assert wnids[:3] == ["n02869837", "n01749939", "n02488291"]
    assert wnids[-1] == "n02090622"
    assert all(len(w) == 9 and w[0] == "n" and w[1:].isdigit() for w in wnids)


def test_imagenet100_folder_check_names_missing_and_unexpected_classes(tmp_path):
    wnids = imagenet100_table.class_list()
    _image_folder(
        tmp_path / "imagenet100", [wnids[0], wnids[1], "n99999999"], {"train": 1, "val": 1}
    )
    config = imagenet100_configs.get_config("quick")
    config.train.data_dir = str(tmp_path)
    with pytest.raises(ValueError) as error:
        imagenet100_table.check_data(config)
    message = str(error.value)
    assert "98 of the 100 ImageNet-100 classes are missing" in message
    assert wnids[2] in message and wnids[-1] in message and wnids[0] + "," not in message
    assert "unexpected class folders: n99999999" in message


def test_pretrained_weights_missing_offline_say_how_to_provide_them(tmp_path):
    config = imagenet100_configs.get_config("paper")
    with pytest.raises(FileNotFoundError, match=r"--config\.pretrained\.tinynet_b="):
        imagenet100_table.pretrained_file(config, "tinynet_b", cache_dir=str(tmp_path))
    config.pretrained.tinynet_b = str(tmp_path / "absent.safetensors")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        imagenet100_table.pretrained_file(config, "tinynet_b")


def test_engine_starts_every_run_from_init_from_and_refuses_a_misfit_file(tmp_path):
    config = mnist_configs.get_config("smoke")
    config.num_runs = 2
    setup = build_setup(config, sharding.make_mesh())
    donor = jax.tree_util.tree_map(lambda x: np.asarray(x)[0], setup.initial_state())
    backbone = {
        "params": {name: tree for name, tree in donor.params.items() if name != "head"},
        "batch_stats": donor.batch_stats,
    }
    path = save_variables(backbone, str(tmp_path / "backbone.npz"))

    config.seed = 7  # other seeds: only what the file lacks (the head) may differ from it
    config.init_from = path
    state = build_setup(config, sharding.make_mesh()).initial_state()
    for run in (0, 1):
        np.testing.assert_array_equal(
            state.params["dense0"]["kernel"][run], backbone["params"]["dense0"]["kernel"]
        )
        np.testing.assert_array_equal(
            state.batch_stats["bn0"]["var"][run], backbone["batch_stats"]["bn0"]["var"]
        )
    heads = np.asarray(state.params["head"]["kernel"])
    assert not np.array_equal(heads[0], heads[1])
    assert not np.array_equal(heads[0], donor.params["head"]["kernel"])

    replicated = sharding.replicated(sharding.make_mesh())
    bad = save_variables(
        {"params": {"dense0": {"kernel": np.zeros((3, 7))}}}, str(tmp_path / "bad.npz")
    )
    with pytest.raises(ValueError, match="params/dense0/kernel has shape"):
        init_from_file(state, bad, replicated)
    odd = save_variables(
        {"params": {"nowhere": {"kernel": np.zeros(2)}}}, str(tmp_path / "odd.npz")
    )
    with pytest.raises(ValueError, match="does not have: params/nowhere/kernel"):
        init_from_file(state, odd, replicated)


def _random_timm_checkpoint(name: str, path: Path) -> dict[str, np.ndarray]:
    """A randomly initialised timm ``name`` (no network needed) saved as safetensors."""
    timm = pytest.importorskip("timm")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    state = timm.create_model(name, pretrained=False).state_dict()
    safetensors_torch.save_file(state, str(path))
    return {key: value.numpy() for key, value in state.items()}


def test_timm_tinynet_b_converts_to_our_backbone_without_its_classifier(tmp_path):
    reference = _random_timm_checkpoint("tinynet_b", tmp_path / "tinynet_b.safetensors")
    output = tmp_path / "backbone.npz"
    imagenet100_table.convert_pretrained(
        "tinynet_b", str(tmp_path / "tinynet_b.safetensors"), str(output)
    )
    backbone = dict(np.load(output))
    stem = reference["conv_stem.weight"].transpose(2, 3, 1, 0)
    np.testing.assert_array_equal(backbone["params/conv_stem/kernel"], stem)
    np.testing.assert_array_equal(backbone["batch_stats/bn1/var"], reference["bn1.running_var"])

    model = create_model("tinynet_b", num_classes=100)
    template = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
    )
    shapes = {
        key: leaf.shape
        for key, leaf in flax.traverse_util.flatten_dict(dict(template), sep="/").items()
    }
    assert {key: value.shape for key, value in backbone.items()} == {
        key: shape for key, shape in shapes.items() if not key.startswith("params/classifier/")
    }


def test_finetuning_from_a_converted_timm_checkpoint(tmp_path):
    # The path of Table 2's pretrained networks, with timm's cheaper-to-compile resnet18.
    weights = tmp_path / "resnet18.safetensors"
    _random_timm_checkpoint("resnet18", weights)
    _image_folder(tmp_path / "data" / "imagenet100", CIFAR_CLASSES, {"train": 6, "val": 4})
    config = imagenet100_configs.get_config("smoke")
    config.results_root = str(tmp_path / "results")
    config.train.data_dir = str(tmp_path / "data")
    config.models = ("resnet18",)
    config.pretrained_tags = ConfigDict({"resnet18": "resnet18.a1_in1k"})
    config.pretrained = ConfigDict({"resnet18": str(weights)})
    config.activations = ("nish",)

    # Conversion, a few fine-tuning steps from it (the engine refuses variables that do not fit
    # the model, so the converted backbone fits), the table.
    paths = imagenet100_table.run(config)
    assert (Path(paths["directory"]) / "pretrained" / "resnet18.a1_in1k.npz").is_file()
    (row,) = _read_csv(paths["table_csv"])
    assert (row["config"], row["Network"], row["Init"]) == ("smoke", "resnet18", "resnet18.a1_in1k")
    assert 0.0 <= float(row["Nish top-1 (%)"]) <= 100.0
    assert row["Welch p (Nish vs Mish)"] == "n/a (needs mish and nish)"
    assert row["Paper Nish top-1 (%)"] == "not in the paper"
    runs = _read_csv(paths["runs"])
    assert len(runs) == 2 and all(int(r["image_size"]) == 32 for r in runs)
    assert "SMOKE run" in Path(paths["table_md"]).read_text()
