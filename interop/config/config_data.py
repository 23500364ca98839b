"""The reference's config dataclasses: the typed tree ``ConfigManager.data`` holds.

They mirror the JSON file's sections with the reference's class and field names. A field
the JSON section lacks is None; keys the dataclasses do not name stay in
``ConfigManager.raw`` only (the default file's ``dataloader.augmentations.target``, for
instance: the reference's ``ConfigDataLoaderAugmentations`` names ``output``, not
``target``, so ``output`` is None with the default file).
"""

from __future__ import annotations

import dataclasses


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
class ConfigAugsBoth:
    """``dataloader.augmentations.both``: transforms applied alike to input and target."""

    h_flip_chance: float
    v_flip_chance: float
    rot90_chance: float
    elastic_transform_chance: float
    elastic_transform_alpha: float
    elastic_transform_sigma: float
    optical_distortion_chance: float
    optical_distortion_min: float
    optical_distortion_max: float
    optical_distortion_mode: str
    coarse_dropout_chance: float
    coarse_dropout_holes_min: int
    coarse_dropout_holes_max: int
    coarse_dropout_height_min: float
    coarse_dropout_height_max: float
    coarse_dropout_width_min: float
    coarse_dropout_width_max: float


@dataclasses.dataclass
class ConfigAugsInput:
    """``dataloader.augmentations.input``: transforms applied to the input only."""

    colorjitter_chance: float
    colorjitter_min_brightness: float
    colorjitter_max_brightness: float
    gaussnoise_chance: float
    gaussnoise_min: float
    gaussnoise_max: float
    motionblur_chance: float
    motionblur_limit: int
    randgamma_chance: float
    randgamma_min: float
    randgamma_max: float
    grayscale_chance: float
    grayscale_method: str
    compression_chance: float
    compression_type: str
    compression_quality_min: int
    compression_quality_max: int


@dataclasses.dataclass
class ConfigAugsOutput:
    """``dataloader.augmentations.output``: a placeholder section (the reference's)."""

    dummy: float


@dataclasses.dataclass
class ConfigDataLoaderAugmentations:
    """``dataloader.augmentations``: settings for both images, the input, the output."""

    both: ConfigAugsBoth
    input: ConfigAugsInput
    output: ConfigAugsOutput


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
