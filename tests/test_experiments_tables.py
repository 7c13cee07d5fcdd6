"""Tables 1 and 2 of the paper: the CIFAR-10 table's whole path on a few dozen real images (once,
shared by the tests that read its outputs), its config-level choices (reading, stem) without
training, the ImageNet-100 class-list checks, and Table 2's fine-tuning path from a timm-layout
checkpoint on real JPEGs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cifar_images import cifar10_archive

from experiments import readme
from experiments.cifar10 import table1 as cifar10_table
from experiments.cifar10.configs import cifar10_table as cifar10_configs
from experiments.core import experiment, grid, report, stats
from experiments.imagenet100 import table2 as imagenet100_table
from experiments.imagenet100.configs import imagenet100_table as imagenet100_configs
from experiments.mnist.configs import mnist_mlp as mnist_configs
from experiments.paper import results as paper_results
from nish_jax.models import create_model, get_spec
from nish_jax.models.convert import _LEAF_NAMES
from nish_jax.train import sharding
from nish_jax.train.components import build_setup
from nish_jax.train.pretrained import init_from_file, save_variables

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat")
REPO = Path(__file__).resolve().parents[1]
# The smoke config cut further for the test suite (2 CPU cores): 2 steps per epoch, 100 test images.
CIFAR10_SMOKE_CUTS = {"train_subset": 64, "batch_size": 32, "test_subset": 100}


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


def _cifar10_smoke(output_root: str):
    config = cifar10_configs.get_config("smoke")
    config.output_root = output_root
    config.train.update(CIFAR10_SMOKE_CUTS)
    return config


@pytest.fixture(scope="module")
def cifar10_smoke(tmp_path_factory) -> report.Results:
    """Table 1's smoke run, trained once for the module."""
    return experiment.run(cifar10_table, _cifar10_smoke(str(tmp_path_factory.mktemp("results"))))


# --- Table 1: CIFAR-10 -------------------------------------------------------------------------


def test_cifar10_table_configs_follow_the_paper_and_reduce_quick():
    paper = cifar10_configs.get_config("paper")
    assert paper.networks == paper_results.TABLE1_NETWORKS
    assert (paper.reading, paper.stem, paper.spread) == ("names", "cifar", "std")
    assert paper.activations == ("mish", "nish")
    assert paper.epochs == (50, 100, 150)
    assert (paper.train.optimizer, paper.train.schedule, paper.train.num_runs) == (
        "adam",
        "constant",
        10,
    )
    quick = cifar10_configs.get_config("quick")
    assert quick.name == "quick" and quick.train.train_subset and max(quick.epochs) <= 3
    assert not quick.vmap_seeds  # CPUs
    with pytest.raises(ValueError, match="valid: paper, quick, smoke"):
        cifar10_configs.get_config("full")


def test_cifar10_readings_and_stems_choose_the_models_without_training(tmp_path):
    config = cifar10_configs.get_config("smoke")
    config.output_root = str(tmp_path)
    (mish, nish) = cifar10_table.points(config)
    assert (mish.keys, mish.activation, nish.activation) == (
        {"network": "squeezenet", "model": "squeezenet1_1"},
        "mish",
        "nish",
    )
    assert (mish.train.model, mish.train.act, mish.train.num_epochs) == ("squeezenet1_1", "mish", 2)
    assert mish.train.model_options.to_dict() == {"stem": "cifar"}

    config.reading = "citations"  # "SqueezeNet" cites the Squeeze-and-Excitation paper
    assert [p.train.model for p in cifar10_table.points(config)] == ["senet18", "senet18"]
    paper = cifar10_configs.get_config("paper")
    paper.reading = "citations"
    assert {p.keys["network"]: p.train.model for p in cifar10_table.points(paper)} == {
        "squeezenet": "senet18",
        "resnet18": "preact_resnet18",
        "efficientnet_b0": "efficientnet_b0",
        "efficientnetv2_s": "tf_efficientnetv2_s",
        "mobilenetv2": "mobilenetv2_100",
    }
    for reading in paper_results.READINGS.values():  # every model of both readings takes a stem
        assert all("stem" in get_spec(model).options for model in reading.values())

    # The ImageNet stems are one override away, and they are another computation (run directory).
    cifar_stem = cifar10_table.points(config)[0].train
    config.stem = "imagenet"
    imagenet_stem = cifar10_table.points(config)[0].train
    assert imagenet_stem.model_options.stem == "imagenet"
    assert grid.run_dir(str(tmp_path), imagenet_stem) != grid.run_dir(str(tmp_path), cifar_stem)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("reading", "titles", "config.reading='titles' is not valid; valid: names, citations"),
        ("stem", "tiny", "config.stem='tiny' is not valid; valid: cifar, imagenet"),
        ("networks", ("squeezenet1_1",), r"\['squeezenet1_1'\]; valid: squeezenet, resnet18"),
        ("epochs", (0, 2), "positive epoch counts"),
        ("spread", "sem", "config.spread='sem' is not valid; valid choices: std, ci"),
        ("train.schedule", "cosine", "only with the 'constant' schedule"),  # columns != runs
    ],
)
def test_cifar10_table_refuses_a_bad_config_before_training(tmp_path, key, value, message):
    config = cifar10_configs.get_config("smoke")
    config.output_root = str(tmp_path)
    *parents, leaf = key.split(".")
    target = config
    for parent in parents:
        target = target[parent]
    target[leaf] = value
    with pytest.raises(ValueError, match=message):
        experiment.run(cifar10_table, config)
    assert not list(tmp_path.iterdir())


def test_cifar10_table_smoke_run_pairs_seeds_per_epoch_column(cifar10_smoke):
    runs = report.read_csv(cifar10_smoke.files["runs"])
    assert set(runs[0]) >= {
        "network", "model", "activation", "seed", "epochs", "diverged", "diverged_step",
        "test_top1_percent", "test_top5_percent", "test_loss", "train_loss", "workdir",
    }  # fmt: skip
    assert sorted((r["activation"], r["seed"], r["epochs"]) for r in runs) == [
        (act, seed, epochs) for act in ("mish", "nish") for seed in "01" for epochs in "12"
    ]
    assert {(r["network"], r["model"], r["diverged"]) for r in runs} == {
        ("squeezenet", "squeezenet1_1", "False")
    }
    assert all(0.0 <= float(r["test_top1_percent"]) <= 100.0 for r in runs)
    # Both epoch columns of a seed are read from its one run.
    workdirs = {(r["activation"], r["seed"]): r["workdir"] for r in runs}
    assert len(set(workdirs.values())) == 4
    assert all(workdirs[(r["activation"], r["seed"])] == r["workdir"] for r in runs)

    comparisons = report.read_csv(cifar10_smoke.files["comparisons"])
    assert list(comparisons[0]) == list(stats.COMPARISON_COLUMNS)
    assert sorted((c["cell"], c["metric"], c["primary"]) for c in comparisons) == [
        ("network=squeezenet, epochs=1", "test_loss", "False"),
        ("network=squeezenet, epochs=1", "test_top1_percent", "False"),
        ("network=squeezenet, epochs=2", "test_loss", "False"),
        ("network=squeezenet, epochs=2", "test_top1_percent", "True"),  # the last column
    ]
    assert {(c["activation"], c["baseline"], c["n_pairs"]) for c in comparisons} == {
        ("nish", "mish", "2")
    }
    (primary,) = [c for c in cifar10_smoke.comparisons if c["primary"]]
    accuracy = {
        (r["activation"], r["seed"]): float(r["test_top1_percent"]) for r in runs
        if r["epochs"] == "2"
    }  # fmt: skip
    differences = [accuracy[("nish", seed)] - accuracy[("mish", seed)] for seed in "01"]
    assert primary["mean_diff"] == pytest.approx(np.mean(differences))


def test_cifar10_table_smoke_run_prints_the_papers_layout_beside_the_papers_numbers(
    cifar10_smoke,
):
    lines = Path(cifar10_smoke.files["table"]).read_text().splitlines()
    assert "SMOKE run" in lines[0]
    assert lines[2].startswith("| Network | Epochs | mish acc / loss / std (ours) | mish (paper) |")
    squeezenet_2 = [line for line in lines if line.startswith("| squeezenet | 2 |")]
    assert len(squeezenet_2) == 1
    cells = [cell.strip() for cell in squeezenet_2[0].strip("|").split("|")]
    assert cells[3] == cells[5] == "not in the paper"  # the paper has 50, 100, 150 epochs
    accuracy, loss, std = (float(part) for part in cells[2].split(" / "))

    runs = cifar10_smoke.runs
    mish = [r for r in runs if (r["activation"], r["epochs"]) == ("mish", 2)]
    assert accuracy == pytest.approx(np.mean([r["test_top1_percent"] for r in mish]), abs=0.005)
    assert loss == pytest.approx(np.mean([r["test_loss"] for r in mish]), abs=5e-5)
    assert std == pytest.approx(np.std([r["test_top1_percent"] for r in mish], ddof=1), abs=0.005)
    table = report.read_csv(cifar10_smoke.files["table_csv"])
    assert [(r["network"], r["epochs"], r["activation"]) for r in table] == [
        ("squeezenet", epochs, act) for epochs in "12" for act in ("mish", "nish")
    ]
    summary = Path(cifar10_smoke.files["summary"]).read_text()
    assert "test accuracy after 2 epochs" in summary and "squeezenet = squeezenet1_1" in summary
    assert "JPEG" in summary
    with open(cifar10_smoke.files["figure"], "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cifar10_table_republished_from_its_files_and_beside_a_paper_column(
    cifar10_smoke, tmp_path
):
    # What experiments.readme does with a committed result: the same table from runs.csv alone.
    config, runs, meta = readme.load_committed(cifar10_smoke.directory)
    config.output_root = str(tmp_path / "again")
    again = experiment.publish(cifar10_table, config, runs, meta)
    assert Path(again.files["table"]).read_text() == Path(cifar10_smoke.files["table"]).read_text()

    # Where an epoch column is one of the paper's, its numbers stand beside ours.
    config.output_root = str(tmp_path / "relabelled")
    config.epochs = (1, 50)
    relabelled = [{**row, "epochs": 50 if row["epochs"] == 2 else 1} for row in runs]
    table = Path(experiment.publish(cifar10_table, config, relabelled).files["table"]).read_text()
    row = next(line for line in table.splitlines() if line.startswith("| squeezenet | 50 |"))
    assert "| 86.07 / 0.4204 / 0.6281 |" in row and "| 86.17 / 0.4189 / 0.4730 |" in row


def test_cifar10_table_from_the_command_line_reuses_the_same_runs(cifar10_smoke):
    output_root = os.path.dirname(os.path.dirname(cifar10_smoke.directory))
    published = report.read_csv(cifar10_smoke.files["runs"])
    overrides = [f"--config.train.{key}={value}" for key, value in CIFAR10_SMOKE_CUTS.items()]
    completed = subprocess.run(
        [sys.executable, "-m", "experiments", "cifar10_table",
         "--config=smoke",
         f"--config.output_root={output_root}", *overrides],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Table 1: CIFAR-10, Mish vs Nish [SMOKE run" in completed.stdout
    # The command line's config is the file's: the same computations, so no new run directory.
    assert len(os.listdir(os.path.join(output_root, "runs"))) == 4
    assert report.read_csv(cifar10_smoke.files["runs"]) == published


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


def test_imagenet100_points_map_the_papers_networks_and_their_initialisation(tmp_path):
    config = imagenet100_configs.get_config("paper")
    config.output_root, config.check_classes = str(tmp_path), False
    pretrained = tmp_path / "imagenet100_table" / "paper" / "pretrained"
    pretrained.mkdir(parents=True)
    for tag in config.pretrained_tags.values():  # already converted: points() reuses the files
        (pretrained / f"{tag}.npz").touch()
    found = {
        (p.keys["network"], p.activation): (
            p.train.model,
            p.keys["init"],
            p.train.init_from,
            p.train.learning_rate,
            p.train.augmentation.image_size,
        )
        for p in imagenet100_table.points(config)
    }
    effnet = str(pretrained / "tf_efficientnet_b0.ap_in1k.npz")
    tinynet_b = str(pretrained / "tinynet_b.in1k.npz")
    for act in ("mish", "nish"):
        assert found.pop(("mobilenetv2", act)) == ("mobilenetv2_100", "scratch", "", 1e-3, 224)
        assert found.pop(("tinynet_c", act)) == ("tinynet_c", "scratch", "", 1e-3, 184)
        assert found.pop(("effnetb0_ap", act)) == (
            "tf_efficientnet_b0", "tf_efficientnet_b0.ap_in1k", effnet, 1e-4, 224,
        )  # fmt: skip
        assert found.pop(("tinynet_b", act)) == (
            "tinynet_b",
            "tinynet_b.in1k",
            tinynet_b,
            1e-4,
            188,
        )
    assert not found

    config.networks = ("tinynet_b", "resnet18")
    with pytest.raises(ValueError, match=r"\['resnet18'\]; valid: mobilenetv2, tinynet_c"):
        experiment.run(imagenet100_table, config)


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
    state = setup.initial_state()  # its rng is a typed key: take only the variables
    first = lambda tree: jax.tree_util.tree_map(lambda x: np.asarray(x)[0], tree)  # noqa: E731
    params, batch_stats = first(state.params), first(state.batch_stats)
    backbone = {
        "params": {name: tree for name, tree in params.items() if name != "head"},
        "batch_stats": batch_stats,
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
    assert not np.array_equal(heads[0], params["head"]["kernel"])

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


def _variable_shapes(model: str, num_classes: int) -> dict[tuple[str, ...], tuple[int, ...]]:
    net = create_model(model, num_classes=num_classes)
    template = jax.eval_shape(
        lambda: net.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
    )
    return {path: leaf.shape for path, leaf in flax.traverse_util.flatten_dict(template).items()}


def _timm_layout_checkpoint(model: str, path: Path) -> dict[tuple[str, ...], np.ndarray]:
    """Random variables of our ``model`` with timm's 1000 classes, saved as timm's state dict
    (its names and PyTorch layouts) in a .pth file: the conversion's input without timm or a
    download. Returns the variables by Flax path."""
    torch = pytest.importorskip("torch")
    spec = get_spec(model)
    rng = np.random.default_rng(0)
    variables, state_dict = {}, {}
    for variable, shape in _variable_shapes(model, 1000).items():
        _, *module_path, leaf = variable
        value = rng.normal(0.0, 0.05, shape).astype(np.float32)
        variables[variable] = np.abs(value) + 1.0 if leaf == "var" else value
        torch_layout = variables[variable]
        if torch_layout.ndim == 4:
            torch_layout = torch_layout.transpose(3, 2, 0, 1)  # HWIO -> OIHW
        elif torch_layout.ndim == 2:
            torch_layout = torch_layout.T
        key = f"{spec.torch_key(tuple(module_path))}.{_LEAF_NAMES[leaf]}"
        state_dict[key] = torch.from_numpy(np.ascontiguousarray(torch_layout))
    torch.save(state_dict, str(path))
    return variables


def test_imagenet100_smoke_fine_tunes_from_a_timm_checkpoint(tmp_path):
    # Table 2's fine-tuned path (a timm checkpoint file, its conversion with the classifier
    # dropped, runs that start from it on real JPEGs), with the cheaper-to-compile MobileNetV2
    # given a timm tag as the paper's fine-tuned networks have.
    weights = tmp_path / "mobilenetv2_100.pth"
    variables = _timm_layout_checkpoint("mobilenetv2_100", weights)
    _image_folder(tmp_path / "data" / "imagenet100", CIFAR_CLASSES, {"train": 4, "val": 2})
    config = imagenet100_configs.get_config("smoke")
    config.output_root = str(tmp_path / "results")
    config.train.data_dir = str(tmp_path / "data")
    config.networks = ("mobilenetv2",)
    config.pretrained_tags.mobilenetv2_100 = "mobilenetv2_100.ra_in1k"
    config.pretrained.mobilenetv2_100 = str(weights)
    config.activations = ("nish",)  # Nish vs Mish pairing: the CIFAR-10 table's tests
    results = experiment.run(imagenet100_table, config)

    converted = Path(results.directory) / "pretrained" / "mobilenetv2_100.ra_in1k.npz"
    backbone = dict(np.load(converted))
    expected = {"/".join(k): v for k, v in variables.items() if k[1] != "classifier"}
    assert sorted(backbone) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(backbone[key], value)

    runs = report.read_csv(results.files["runs"])
    assert [(r["activation"], r["seed"]) for r in runs] == [("nish", "0"), ("nish", "1")]
    assert {(r["network"], r["init"], r["diverged"]) for r in runs} == {
        ("mobilenetv2", "mobilenetv2_100.ra_in1k", "False")
    }
    assert all(0.0 <= float(r["test_top1_percent"]) <= 100.0 for r in runs)
    for row in runs:  # each run's engine config starts it from the converted file
        engine = json.loads((Path(row["workdir"]) / "config.json").read_text())
        assert engine["init_from"] == str(converted)
        assert (engine["learning_rate"], engine["augmentation"]["image_size"]) == (1e-4, 32)
    assert results.comparisons == []
    table = Path(results.files["table"]).read_text()
    assert "SMOKE run" in table.splitlines()[0]
    assert "| mobilenetv2 | mobilenetv2_100.ra_in1k |" in table
    assert "| 46.54 |" in table  # the paper's nish top-1
    assert "Class list check: OFF" in table


def test_timm_tinynet_b_converts_to_our_backbone_without_its_classifier(tmp_path):
    timm = pytest.importorskip("timm")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    reference = timm.create_model("tinynet_b", pretrained=False).state_dict()
    safetensors_torch.save_file(reference, str(tmp_path / "tinynet_b.safetensors"))
    output = tmp_path / "backbone.npz"
    imagenet100_table.convert_pretrained(
        "tinynet_b", str(tmp_path / "tinynet_b.safetensors"), str(output)
    )
    backbone = dict(np.load(output))
    stem = reference["conv_stem.weight"].numpy().transpose(2, 3, 1, 0)
    np.testing.assert_array_equal(backbone["params/conv_stem/kernel"], stem)
    np.testing.assert_array_equal(
        backbone["batch_stats/bn1/var"], reference["bn1.running_var"].numpy()
    )
    assert {key: value.shape for key, value in backbone.items()} == {
        "/".join(path): shape
        for path, shape in _variable_shapes("tinynet_b", 100).items()
        if path[1] != "classifier"
    }
