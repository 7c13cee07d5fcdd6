"""ResNet-18 with the CIFAR stem (3x3 conv, no max-pool) on CIFAR-10: SGD, cosine, 200 epochs.

    python -m experiments.train --config experiments/cifar10/configs/cifar10_resnet18.py \
        --workdir runs/cifar10_resnet18 --config.act=nish
"""

from ml_collections import ConfigDict

from nish_jax.train import get_config_defaults


def get_config() -> ConfigDict:
    config = get_config_defaults()
    config.dataset = "cifar10"
    config.model = "resnet18"
    config.act = "nish"
    config.model_options = ConfigDict(dict(stem="cifar"))
    config.batch_size = 128
    config.eval_batch_size = 500
    config.num_epochs = 200
    config.optimizer = "sgd"
    config.learning_rate = 0.1
    config.momentum = 0.9
    config.nesterov = True
    config.weight_decay = 5e-4
    config.schedule = "cosine"
    config.label_smoothing = 0.0
    config.augmentation.crop_padding = 4
    config.augmentation.hflip = True
    config.checkpoint_every_steps = 1000
    config.log_every_steps = 100
    return config
