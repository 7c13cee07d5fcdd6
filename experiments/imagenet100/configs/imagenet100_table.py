"""The paper's Table 2: ImageNet-100 top-1 with Mish and with Nish, from scratch and fine-tuned.

    python -m experiments imagenet100_table --config=paper \
        --config.pretrained.tf_efficientnet_b0=/path/to/model.safetensors \
        --config.pretrained.tinynet_b=/path/to/model.safetensors

The data is an image folder ``imagenet100/{train,val}/<wnid>/*.JPEG`` in a NISH_DATA_DIR directory
(or ``--config.train.data_dir``), holding the 100 classes of experiments/imagenet100/classes.txt.
MobileNetV2 and TinyNet-C train from scratch; TF-EfficientNet-B0 (AdvProp) and TinyNet-B start
from timm's ImageNet-1k weights (``tf_efficientnet_b0.ap_in1k``, ``tinynet_b.in1k``), read from
``config.pretrained.<network>`` (a .safetensors or .pth file) or, when that is empty, from the
Hugging Face cache timm downloads into.

Variants: ``paper`` (accelerators), ``quick`` (2 CPU cores, minutes: two networks on a subset at
64x64), ``smoke`` (the tests': any tiny image folder, no class-list check).

From the paper: the four networks and their initialisation, horizontal and vertical flips, batch
32, top-1. Our assumptions where the paper is silent: Adam with learning
rate 1e-3 from scratch and 1e-4 for fine-tuning, constant, 30 epochs, each network's own input
size (224, 184, 224, 188), 3 paired seeds per cell. Primary endpoint: last-epoch top-1, Nish
against Mish per network, paired by seed.
"""

from ml_collections import ConfigDict

from experiments.paper.results import ACTIVATIONS, TABLE2_MODELS
from nish_jax.train import get_config_defaults

VARIANTS = ("paper", "quick", "smoke")
# timm's pretrained tags of the networks the paper fine-tunes.
PRETRAINED_TAGS = {
    "tf_efficientnet_b0": "tf_efficientnet_b0.ap_in1k",
    "tinynet_b": "tinynet_b.in1k",
}


def get_config(variant: str = "paper") -> ConfigDict:
    """The ``paper`` protocol or its reduced ``quick`` / ``smoke`` variants (module doc)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown imagenet100_table variant {variant!r}; valid: {VARIANTS}")
    config = ConfigDict()
    config.name = variant
    config.output_root = "results"
    config.networks = tuple(TABLE2_MODELS)  # the paper's names (paper_results.TABLE2_MODELS)
    config.activations = ACTIVATIONS
    config.spread = "std"
    config.vmap_seeds = True  # all seeds of a network in one program (accelerators)
    config.pretrained_tags = ConfigDict(PRETRAINED_TAGS)
    # Weight files of the pretrained networks; "" = look in the Hugging Face cache.
    config.pretrained = ConfigDict({model: "" for model in PRETRAINED_TAGS})
    config.check_classes = True  # the folder must hold exactly the 100 classes of the list
    config.image_size = 0  # 0 = each network's own input size
    config.finetune_learning_rate = 1e-4

    train = get_config_defaults()
    train.dataset = "imagenet100"
    train.batch_size = 32
    train.eval_batch_size = 128
    train.num_epochs = 30
    train.optimizer = "adam"
    train.learning_rate = 1e-3
    train.schedule = "constant"
    train.augmentation.hflip = True
    train.augmentation.vflip = True
    train.num_runs = 3
    train.checkpoint_every_steps = 2000
    train.keep_checkpoints = 2  # one intact checkpoint survives a kill while the newest is saved
    train.log_every_steps = 200
    config.train = train

    if variant == "quick":
        config.networks = ("mobilenetv2", "tinynet_b")
        config.vmap_seeds = False
        config.image_size = 64
        train.num_epochs = 1
        train.num_runs = 2
        train.train_subset = 2000
        train.test_subset = 1000
        train.checkpoint_every_steps = 0
        train.log_every_steps = 10
    elif variant == "smoke":
        config.networks = ("tinynet_b",)
        config.vmap_seeds = False
        config.check_classes = False
        config.image_size = 32
        train.num_epochs = 1
        train.num_runs = 2
        train.batch_size = 8
        train.eval_batch_size = 16
        train.checkpoint_every_steps = 0
        train.log_every_steps = 1
    return config
