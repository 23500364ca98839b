"""The training config: the reference's JSON format, parsed once into frozen dataclasses.

A config file holds ``{"config": {...}}`` with the reference's sections (common,
dataloader, train, save, visualizer). ``load_config`` lays a file and overrides over the
defaults (the reference's default config, ``TrainConfig()``) and returns a
``TrainConfig``, whose fields are the file's keys (``config.train.generator.n_downs``);
nothing below this module reads the JSON. Unknown keys, wrong types and bad values are a
ValueError naming the key path; a ``TrainConfig`` checks every value when it is built
(``dataclasses.replace`` included), so one that exists is valid. ``to_json()`` writes it
back in the reference's format: ``load_config`` of that file gives an equal config.

Extensions (absent from the reference's files, left out of ``to_json()`` while off):
schedule objects for the loss weights, the weight rules and ``train.health``
(``_config_loss``), ``train.generator.norm`` (``GENERATOR_NORMS``: absent means
``'instance'``, the reference's ``InstanceNorm2d``; ``'batch'`` builds BatchNorm
instead), ``train.generator.conv_impl`` (``CONV_IMPLS``: how the models convolve, the
same numbers in each form; absent means ``'auto'``), ``save.keep_checkpoints`` (how
many of the newest checkpoints a run keeps, older ones being deleted as new ones are
written; null keeps every one, as the reference does) and ``visualizer.tensorboard``
(null = off, or the folder of the TensorBoard event files of the run's losses, weights,
learning rates and example images: ``nectargan_jax.train._writers``).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
import re
from typing import Any

from nectargan_jax.models import BLOCK_TYPES
from nectargan_jax.models import CONV_IMPLS
from nectargan_jax.models import NORMS as GENERATOR_NORMS
from nectargan_jax.models import UPSAMPLE_TYPES
from nectargan_jax.scheduling import Schedule
from nectargan_jax.train._augment_config import AugmentationsConfig, check_augmentations
from nectargan_jax.train._config_loss import HealthConfig, LossConfig
from nectargan_jax.train._config_schema import (check_types, extension, fail, join,
                                                lay_fields, to_dict, type_name)

DIRECTIONS = ("AtoB", "BtoA")
KEEP_CHECKPOINTS = 3
# What ``common.device`` may name (torch's device strings); the trainer runs on JAX's
# default device and says so when it is another (``_notes``).
_DEVICE = re.compile(r"(cpu|cuda|gpu|tpu|mps)(:\d+)?")


def _section(cls: type) -> Any:
    return dataclasses.field(default_factory=cls)


@dataclasses.dataclass(frozen=True)
class CommonConfig:
    """``common``: the run's name and where it writes."""

    device: str = "cpu"
    gpu_ids: tuple[int, ...] = (0,)
    output_directory: str = ""
    experiment_name: str = "NectarGAN"
    experiment_version: int = 1

    def _check(self, where: str) -> None:
        name = self.experiment_name
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            fail(join(where, "experiment_name"), name,
                 "a folder name (not empty, no '/' or '\\')")
        if self.experiment_version < 0:
            fail(join(where, "experiment_version"), self.experiment_version, "an int >= 0")
        if not _DEVICE.fullmatch(self.device):
            fail(join(where, "device"), self.device,
                 "a device such as 'cpu', 'cuda' or 'cuda:1'")


@dataclasses.dataclass(frozen=True)
class LoadConfig:
    """``dataloader.load``: image channels (1 or 3) and the sizes images are loaded at."""

    input_nc: int = 3
    load_size: int = 286
    crop_size: int = 256

    def _check(self, where: str) -> None:
        for key in ("input_nc", "crop_size", "load_size"):
            if getattr(self, key) < 1:
                fail(join(where, key), getattr(self, key), "an int >= 1")
        if self.input_nc not in (1, 3):
            fail(join(where, "input_nc"), self.input_nc, "1 (grayscale) or 3 (RGB)")
        if self.load_size < self.crop_size:
            fail(join(where, "load_size"), self.load_size,
                 f">= {where}.crop_size ({self.crop_size})")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """``dataloader``: the paired images (an empty ``dataroot``: the embedded synthetic
    task), their direction, batch size, load sizes and augmentations."""

    dataroot: str = ""
    direction: str = "AtoB"
    batch_size: int = 1
    num_workers: int = 0
    load: LoadConfig = _section(LoadConfig)
    augmentations: AugmentationsConfig = _section(AugmentationsConfig)

    def _check(self, where: str) -> None:
        if self.num_workers < 0:
            fail(join(where, "num_workers"), self.num_workers, "an int >= 0")
        if self.direction not in DIRECTIONS:
            fail(join(where, "direction"), self.direction, f"one of {DIRECTIONS}")
        if self.batch_size < 1:
            fail(join(where, "batch_size"), self.batch_size, "an int >= 1")
        self.load._check(join(where, "load"))
        check_augmentations(self.augmentations)


@dataclasses.dataclass(frozen=True)
class LearningRateConfig:
    """``train.<model>.learning_rate``: ``initial`` for ``epochs`` epochs, then linear to
    ``target`` over ``epochs_decay`` (the reference's pix2pix rule)."""

    epochs: int = 100
    epochs_decay: int = 100
    initial: float = 0.0002
    target: float = 0.0

    def schedule(self) -> Schedule:
        """The learning rate per epoch, epochs counted from 0.

        The reference builds ``Schedule(start_epoch=epochs, end_epoch=1 + epochs +
        epochs_decay, initial_value=initial, target_value=target)``, shifted by -1 and
        stepped once per epoch; with epochs counted from 0 that is constant ``initial``
        through epoch ``epochs - 1``, then linear to ``target`` at epoch ``epochs +
        epochs_decay``::

            lr(e) = initial + clip((e - epochs + 1) / (epochs_decay + 1), 0, 1) * (target - initial)

        Examples:
          >>> s = LearningRateConfig().schedule()
          >>> [round(float(s(e)) / 2e-4, 4) for e in (0, 99, 100, 150, 200)]
          [1.0, 1.0, 0.9901, 0.495, 0.0]
        """
        return Schedule("linear", start_epoch=self.epochs - 1,
                        end_epoch=self.epochs + self.epochs_decay,
                        initial_value=self.initial, target_value=self.target)

    def _check(self, where: str) -> None:
        for key in ("epochs", "epochs_decay"):
            if getattr(self, key) < 0:
                fail(join(where, key), getattr(self, key), "an int >= 0")
        if self.epochs + self.epochs_decay < 1:
            fail(join(where, "epochs"), self.epochs,
                 "such that epochs + epochs_decay >= 1 (the number of epochs trained)")
        for key in ("initial", "target"):
            if not 0 <= getattr(self, key) < float("inf"):
                fail(join(where, key), getattr(self, key), "a finite number >= 0")


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """``train.<model>.optimizer``: Adam's ``b1``."""

    beta1: float = 0.5

    def _check(self, where: str) -> None:
        if not 0 <= self.beta1 < 1:
            fail(join(where, "beta1"), self.beta1, "in [0, 1)")


def _at_least_one(section: Any, where: str, keys: tuple[str, ...]) -> None:
    for key in keys:
        if getattr(section, key) < 1:
            fail(join(where, key), getattr(section, key), "an int >= 1")


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """``train.generator``: the U-Net and its optimizer (``norm`` and ``conv_impl`` are
    extensions)."""

    features: int = 64
    n_downs: int = 6
    block_type: str = "UnetBlock"
    upsample_type: str = "Transposed"
    learning_rate: LearningRateConfig = _section(LearningRateConfig)
    optimizer: OptimizerConfig = _section(OptimizerConfig)
    norm: str = extension("instance")
    conv_impl: str = extension("auto")

    @property
    def side(self) -> int:
        """What an image's side must be a multiple of: ``2 ** (n_downs + 2)``."""
        return 2 ** (self.n_downs + 2)

    def _check(self, where: str) -> None:
        if self.norm not in GENERATOR_NORMS:
            fail(join(where, "norm"), self.norm, f"one of {GENERATOR_NORMS}")
        if self.conv_impl not in CONV_IMPLS:
            fail(join(where, "conv_impl"), self.conv_impl, f"one of {CONV_IMPLS}")
        if self.block_type not in BLOCK_TYPES:
            fail(join(where, "block_type"), self.block_type, f"one of {BLOCK_TYPES}")
        if self.upsample_type not in UPSAMPLE_TYPES:
            fail(join(where, "upsample_type"), self.upsample_type, f"one of {UPSAMPLE_TYPES}")
        _at_least_one(self, where, ("features", "n_downs"))


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig:
    """``train.discriminator``: the PatchGAN and its optimizer."""

    n_layers: int = 3
    base_channels: int = 64
    max_channels: int = 512
    learning_rate: LearningRateConfig = _section(LearningRateConfig)
    optimizer: OptimizerConfig = _section(OptimizerConfig)

    def _check(self, where: str) -> None:
        _at_least_one(self, where, ("n_layers", "base_channels", "max_channels"))


@dataclasses.dataclass(frozen=True)
class ResumeConfig:
    """``train.load``: continue from the checkpoint of ``load_epoch`` (the reference's)."""

    continue_train: bool = False
    load_epoch: int = 1


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """``train``: the models, their learning rates, the losses and the health checks."""

    separate_lr_schedules: bool = False
    load: ResumeConfig = _section(ResumeConfig)
    generator: GeneratorConfig = _section(GeneratorConfig)
    discriminator: DiscriminatorConfig = _section(DiscriminatorConfig)
    loss: LossConfig = _section(LossConfig)
    health: HealthConfig | None = extension(None)

    def learning_rate_schedule(self, which: str = "generator") -> Schedule:
        """The learning-rate schedule of ``which`` (``'generator'`` or
        ``'discriminator'``; with ``separate_lr_schedules`` false, both follow the
        generator's), per epoch (``LearningRateConfig.schedule``).

        Raises:
          ValueError: another ``which``.
        """
        if which not in ("generator", "discriminator"):
            raise ValueError(f"which must be 'generator' or 'discriminator', got {which!r}.")
        model = self.discriminator if which == "discriminator" and \
            self.separate_lr_schedules else self.generator
        return model.learning_rate.schedule()

    def _check(self, where: str) -> None:
        self.generator._check(join(where, "generator"))
        self.discriminator._check(join(where, "discriminator"))
        for which in ("generator", "discriminator"):
            model = getattr(self, which)
            model.learning_rate._check(join(where, f"{which}.learning_rate"))
            model.optimizer._check(join(where, f"{which}.optimizer"))
        self.loss._check(join(where, "loss"))
        if self.health is not None:
            self.health._check(join(where, "health"))


@dataclasses.dataclass(frozen=True)
class SaveConfig:
    """``save``: checkpoint and example cadences (``keep_checkpoints`` an extension)."""

    save_model: bool = True
    model_save_rate: int = 5
    auto_increment_version: bool = True
    save_examples: bool = True
    example_save_rate: int = 1
    num_examples: int = 1
    keep_checkpoints: int | None = extension(KEEP_CHECKPOINTS)

    def _check(self, where: str) -> None:
        _at_least_one(self, where, ("model_save_rate", "example_save_rate"))
        keep = self.keep_checkpoints
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int)
                                 or keep < 1):
            fail(join(where, "keep_checkpoints"), keep,
                 "an int >= 1 (checkpoints kept), or null (keep all)")


@dataclasses.dataclass(frozen=True)
class VisdomConfig:
    """``visualizer.visdom``: the reference's Visdom view."""

    enable: bool = False
    env_name: str = "main"
    server: str = "http://localhost"
    port: int = 8097
    image_size: int = 400
    update_frequency: int = 40

    def _check(self, where: str) -> None:
        _at_least_one(self, where, ("update_frequency", "image_size"))
        if not 1 <= self.port <= 65535:
            fail(join(where, "port"), self.port, "a port number in [1, 65535]")


@dataclasses.dataclass(frozen=True)
class VisualizerConfig:
    """``visualizer``: Visdom, and TensorBoard (an extension)."""

    visdom: VisdomConfig = _section(VisdomConfig)
    tensorboard: str | None = extension(None)

    def _check(self, where: str) -> None:
        self.visdom._check(join(where, "visdom"))
        board = self.tensorboard
        if board is not None and (not isinstance(board, str) or not board):
            raise ValueError(f"config key {join(where, 'tensorboard')!r} must be null (off) "
                             "or the folder of the TensorBoard event files, got "
                             f"{type_name(board)}: {board!r}.")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A pix2pix training config, checked whole when built.

    ``TrainConfig()`` is the reference's default config; ``load_config`` reads one from a
    file and overrides. Change one with ``with_overrides`` (key paths, checked like a
    file) or ``dataclasses.replace``.

    Raises:
      ValueError: a wrong type or a bad value, naming the key path.

    Examples:
      >>> config = TrainConfig()
      >>> config.train.generator.n_downs, config.total_epochs
      (6, 200)
      >>> config.with_overrides({"train.generator.n_downs": 4}).train.generator.n_downs
      4
    """

    common: CommonConfig = _section(CommonConfig)
    dataloader: DataConfig = _section(DataConfig)
    train: TrainingConfig = _section(TrainingConfig)
    save: SaveConfig = _section(SaveConfig)
    visualizer: VisualizerConfig = _section(VisualizerConfig)

    def __post_init__(self):
        check_types(self, "")
        self.common._check("common")
        self.save._check("save")
        self.dataloader._check("dataloader")
        self.train._check("train")
        generator, load = self.train.generator, self.dataloader.load
        if generator.block_type == "ResidualUnetBlock" and load.crop_size != generator.side:
            fail("dataloader.load.crop_size", load.crop_size,
                 f"{generator.side} for a ResidualUnetBlock generator with "
                 f"train.generator.n_downs={generator.n_downs} (the reference's residual "
                 "U-Net takes only that size)")
        if load.crop_size % generator.side:
            fail("dataloader.load.crop_size", load.crop_size,
                 f"a multiple of {generator.side} for train.generator.n_downs="
                 f"{generator.n_downs}")
        self.visualizer._check("visualizer")

    @property
    def total_epochs(self) -> int:
        """Epochs a run trains: the generator's ``epochs + epochs_decay`` (the reference's
        rule)."""
        rate = self.train.generator.learning_rate
        return rate.epochs + rate.epochs_decay

    def with_overrides(self, overrides: dict[str, Any]) -> TrainConfig:
        """This config with ``overrides`` laid over it, as ``load_config`` lays them.

        Raises:
          TypeError: ``overrides`` is not a dict.
          ValueError: an unknown key, a wrong type or a bad value (naming the key path).
        """
        return _layered(self, [_nest(overrides)])

    def to_dict(self) -> dict[str, Any]:
        """The inner dict of the config file (``{"common": ..., "dataloader": ...}``);
        extensions that are off are left out."""
        return to_dict(self)

    def to_json(self) -> str:
        """The config file's text, ``{"config": {...}}`` in the reference's format."""
        return json.dumps({"config": self.to_dict()}, indent=4)


def check_config(config: Any) -> TrainConfig:
    """``config`` if it is a ``TrainConfig``, else a TypeError (a dict of the JSON, say)."""
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig (load_config(...)), got "
                        f"{type_name(config)}.")
    return config


def embedded_default_overrides() -> dict[str, Any]:
    """Settings of the embedded default run (the README's main command), as overrides
    with dotted keys (``load_config(overrides=...)``; flags merge with them key by key).

    A small model on 64x64 procedurally generated pairs (``dataloader.dataroot`` empty),
    so that ``nectargan-jax train`` completes in minutes on a 2-core CPU.
    """
    return {
        "dataloader.batch_size": 4,
        "dataloader.load.load_size": 64,
        "dataloader.load.crop_size": 64,
        "train.generator.features": 16,
        "train.generator.n_downs": 3,
        "train.generator.learning_rate.epochs": 4,
        "train.generator.learning_rate.epochs_decay": 4,
        "train.discriminator.base_channels": 16,
        "train.discriminator.max_channels": 64,
        "train.discriminator.learning_rate.epochs": 4,
        "train.discriminator.learning_rate.epochs_decay": 4,
    }


def load_config(path: str | Path | None = None,
                overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Reads a config file, lays ``overrides`` over it and checks the result.

    Args:
      path: a JSON file holding ``{"config": {...}}``; None = the reference's default.
        Keys it leaves out take the default's values.
      overrides: values laid over the file's, as a nested dict
        (``{"train": {"generator": {"n_downs": 4}}}``) or with dotted keys
        (``{"train.generator.n_downs": 4}``).

    Returns:
      The ``TrainConfig``.

    Raises:
      FileNotFoundError: ``path`` does not exist.
      TypeError: ``overrides`` is not a dict.
      ValueError: not a ``{"config": {...}}`` JSON file, an unknown key, a wrong type or
        a bad value (the message names the key path).

    Examples:
      >>> config = load_config(overrides={"train.generator.n_downs": 4})
      >>> config.train.generator.n_downs, config.train.generator.features
      (4, 64)
    """
    layers = []
    if path is not None:
        layers.append(_read(Path(path)))
    if overrides is not None:
        layers.append(_nest(overrides))
    return _layered(TrainConfig(), layers)


def _read(path: Path) -> dict[str, Any]:
    """The inner object of a config file."""
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {str(path)!r}.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"config file {str(path)!r} is not valid JSON: {err}.") from None
    if not isinstance(data, dict) or set(data) != {"config"}:
        raise ValueError(f'config file {str(path)!r} must hold {{"config": {{...}}}}, got '
                         f"top-level keys {sorted(data) if isinstance(data, dict) else data!r}.")
    return data["config"]


def _nest(overrides: dict[str, Any]) -> dict[str, Any]:
    """Turns dotted keys into nested dicts (copies: the caller's dicts are left as given)."""
    if not isinstance(overrides, dict):
        raise TypeError(f"overrides must be a dict, got {type(overrides).__name__}.")
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        *parents, leaf = str(key).split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(value, dict) and isinstance(node.get(leaf), dict):
            node[leaf].update(copy.deepcopy(value))
        else:
            node[leaf] = copy.deepcopy(value)
    return nested


def _layered(base: TrainConfig, layers: list[Any]) -> TrainConfig:
    """``base`` with each JSON object of ``layers`` laid over it in turn, checked once
    at the end (a layer may fix what an earlier one left inconsistent)."""
    values = {field.name: getattr(base, field.name) for field in dataclasses.fields(base)}
    for layer in layers:
        values = lay_fields(TrainConfig, values, layer, "")
    return TrainConfig(**values)
