"""The reference's config dataclasses: the typed tree ``ConfigManager.data`` holds.

They mirror the JSON file's sections with the reference's class and field names. A field
the JSON section lacks is None; keys the dataclasses do not name stay in
``ConfigManager.raw`` only (the default file's ``dataloader.augmentations.target``, for
instance: the reference's ``ConfigDataLoaderAugmentations`` names ``output``, not
``target``, so ``output`` is None with the default file).
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class ConfigCommon:
    """``common``: device, GPU ids and where the experiment's outputs go."""

    device: str
    gpu_ids: list[int]
    output_directory: str
    experiment_name: str
    experiment_version: int


@dataclasses.dataclass
class ConfigDataloaderLoad:
    """``dataloader.load``: image sizes (``crop_size`` is the training size) and channels."""

    load_size: int
    crop_size: int
    input_nc: int


@dataclasses.dataclass
class ConfigDataLoaderAugmentations:
    """``dataloader.augmentations``: settings for both images, the input, the output."""

    both: dict[str, Any]
    input: dict[str, Any]
    output: dict[str, Any]


@dataclasses.dataclass
class ConfigDataloader:
    """``dataloader``: dataset folder, direction, batching, loading and augmentations."""

    dataroot: str
    direction: str
    batch_size: int
    num_workers: int
    load: ConfigDataloaderLoad
    augmentations: ConfigDataLoaderAugmentations


@dataclasses.dataclass
class ConfigLoad:
    """``train.load``: resume from a checkpoint."""

    continue_train: bool
    load_epoch: int


@dataclasses.dataclass
class ConfigLearningRate:
    """``learning_rate``: constant for ``epochs``, then a decay over ``epochs_decay``."""

    epochs: int
    epochs_decay: int
    initial: float
    target: float


@dataclasses.dataclass
class ConfigOptimizer:
    """``optimizer``: Adam's ``beta1``."""

    beta1: float


@dataclasses.dataclass
class ConfigGenerator:
    """``train.generator``: the UNet and its optimizer."""

    features: int
    n_downs: int
    block_type: str
    upsample_type: str
    learning_rate: ConfigLearningRate
    optimizer: ConfigOptimizer


@dataclasses.dataclass
class ConfigDiscriminator:
    """``train.discriminator``: the PatchGAN and its optimizer."""

    n_layers: int
    base_channels: int
    max_channels: int
    learning_rate: ConfigLearningRate
    optimizer: ConfigOptimizer


@dataclasses.dataclass
class ConfigLoss:
    """``train.loss``: the pix2pix spec's loss weights."""

    lambda_gan: float
    lambda_l1: float
    lambda_l2: float
    lambda_sobel: float
    lambda_laplacian: float
    lambda_vgg: float


@dataclasses.dataclass
class ConfigTrain:
    """``train``: resuming, the two networks and the loss weights."""

    separate_lr_schedules: bool
    load: ConfigLoad
    generator: ConfigGenerator
    discriminator: ConfigDiscriminator
    loss: ConfigLoss


@dataclasses.dataclass
class ConfigSave:
    """``save``: checkpoints and example images."""

    save_model: bool
    model_save_rate: int
    auto_increment_version: bool
    save_examples: bool
    example_save_rate: int
    num_examples: int


@dataclasses.dataclass
class ConfigVisdom:
    """``visualizer.visdom``: the Visdom live view."""

    enable: bool
    env_name: str
    server: str
    port: int
    image_size: int
    update_frequency: int


@dataclasses.dataclass
class ConfigVisualizer:
    """``visualizer``: live views."""

    visdom: ConfigVisdom


@dataclasses.dataclass
class Config:
    """The whole config, one dataclass per section.

    Examples:
        >>> from interop.config.config_manager import ConfigManager
        >>> ConfigManager().data.dataloader.load
        ConfigDataloaderLoad(load_size=286, crop_size=256, input_nc=3)
    """

    common: ConfigCommon
    dataloader: ConfigDataloader
    train: ConfigTrain
    save: ConfigSave
    visualizer: ConfigVisualizer
