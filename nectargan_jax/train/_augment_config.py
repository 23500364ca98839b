"""``dataloader.augmentations`` of a config, typed: its values checked, its plan built.

The checks follow what albumentations 2.0.8 (the reference's library) accepts for the
transforms the reference builds from these keys, and refuse what would make a transform
meaningless (a range whose min exceeds its max); each error names the key path.
"""

from __future__ import annotations

import dataclasses
import math

from PIL import features

from nectargan_jax.train import _augment_ops as ops
from nectargan_jax.train._augment import (Augmentations, ColorJitter, CoarseDropout,
                                          ElasticTransform, GaussNoise, HorizontalFlip,
                                          ImageCompression, MotionBlur, OpticalDistortion,
                                          RandomGamma, RandomRotate90, ToGray, VerticalFlip)
from nectargan_jax.train._config_schema import fail, is_number

OPTICAL_MODES = ("camera", "fisheye")
COMPRESSION_TYPES = ("jpeg", "webp")
_WHERE = "dataloader.augmentations"


@dataclasses.dataclass(frozen=True)
class BothAugmentations:
    """``dataloader.augmentations.both``: applied to the input and the target alike."""

    h_flip_chance: float = 0.5
    v_flip_chance: float = 0.0
    rot90_chance: float = 0.0
    elastic_transform_chance: float = 0.0
    elastic_transform_alpha: float = 1.0
    elastic_transform_sigma: float = 50.0
    optical_distortion_chance: float = 0.0
    optical_distortion_min: float = -0.05
    optical_distortion_max: float = 0.05
    optical_distortion_mode: str = "camera"
    coarse_dropout_chance: float = 0.0
    coarse_dropout_holes_min: int = 1
    coarse_dropout_holes_max: int = 2
    coarse_dropout_height_min: float = 0.1
    coarse_dropout_height_max: float = 0.2
    coarse_dropout_width_min: float = 0.1
    coarse_dropout_width_max: float = 0.2


@dataclasses.dataclass(frozen=True)
class InputAugmentations:
    """``dataloader.augmentations.input``: applied to the input only."""

    colorjitter_chance: float = 0.0
    colorjitter_min_brightness: float = 0.8
    colorjitter_max_brightness: float = 1.2
    gaussnoise_chance: float = 0.0
    gaussnoise_min: float = 0.2
    gaussnoise_max: float = 0.44
    motionblur_chance: float = 0.0
    motionblur_limit: int = 7
    randgamma_chance: float = 0.0
    randgamma_min: float = 80.0
    randgamma_max: float = 120.0
    grayscale_chance: float = 0.0
    grayscale_method: str = "weighted_average"
    compression_chance: float = 0.0
    compression_type: str = "jpeg"
    compression_quality_min: int = 99
    compression_quality_max: int = 100


@dataclasses.dataclass(frozen=True)
class TargetAugmentations:
    """``dataloader.augmentations.target``: the reference's section for the target only,
    which takes no key."""


@dataclasses.dataclass(frozen=True)
class AugmentationsConfig:
    """``dataloader.augmentations``."""

    both: BothAugmentations = dataclasses.field(default_factory=BothAugmentations)
    input: InputAugmentations = dataclasses.field(default_factory=InputAugmentations)
    target: TargetAugmentations = dataclasses.field(default_factory=TargetAugmentations)


def augmentations_from_config(augs: AugmentationsConfig) -> Augmentations:
    """The plan of a validated config's ``dataloader.augmentations``.

    Examples:
      >>> augmentations_from_config(AugmentationsConfig()).both
      (HorizontalFlip(chance=0.5),)
    """
    b, i = augs.both, augs.input
    both = (
        HorizontalFlip(b.h_flip_chance),
        VerticalFlip(b.v_flip_chance),
        RandomRotate90(b.rot90_chance),
        ElasticTransform(b.elastic_transform_chance, b.elastic_transform_alpha,
                         b.elastic_transform_sigma),
        OpticalDistortion(b.optical_distortion_chance, b.optical_distortion_min,
                          b.optical_distortion_max, b.optical_distortion_mode),
        CoarseDropout(b.coarse_dropout_chance,
                      (b.coarse_dropout_holes_min, b.coarse_dropout_holes_max),
                      (b.coarse_dropout_height_min, b.coarse_dropout_height_max),
                      (b.coarse_dropout_width_min, b.coarse_dropout_width_max)),
    )
    inputs = (
        ColorJitter(i.colorjitter_chance, (i.colorjitter_min_brightness,
                                           i.colorjitter_max_brightness)),
        GaussNoise(i.gaussnoise_chance, (i.gaussnoise_min, i.gaussnoise_max)),
        MotionBlur(i.motionblur_chance, i.motionblur_limit),
        RandomGamma(i.randgamma_chance, (i.randgamma_min, i.randgamma_max)),
        ToGray(i.grayscale_chance, i.grayscale_method),
    )
    compression = ImageCompression(
        i.compression_chance, i.compression_type,
        (i.compression_quality_min, i.compression_quality_max))
    return Augmentations(tuple(s for s in both if s.chance > 0),
                         tuple(s for s in inputs if s.chance > 0),
                         compression if compression.chance > 0 else None)


def check_augmentations(augs: AugmentationsConfig) -> None:
    """Checks ``dataloader.augmentations``' values (types are checked before).

    Raises:
      ValueError: a chance outside [0, 1], a range with min > max, or a value outside
        what its key takes; the message names the key path.
    """
    for name, section in (("both", augs.both), ("input", augs.input)):
        for field in dataclasses.fields(section):
            value = getattr(section, field.name)
            if field.name.endswith("_chance") and not 0 <= value <= 1:
                fail(f"{_WHERE}.{name}.{field.name}", value, "a probability in [0, 1]")
    _check_both(augs.both, f"{_WHERE}.both")
    _check_input(augs.input, f"{_WHERE}.input")


def _check_both(b: BothAugmentations, where: str) -> None:
    _at_least(where, b, "elastic_transform_alpha", 0)
    _at_least(where, b, "elastic_transform_sigma", 1)
    _range(where, b, "optical_distortion_min", "optical_distortion_max")
    _choice(where, b, "optical_distortion_mode", OPTICAL_MODES)
    _at_least(where, b, "coarse_dropout_holes_min", 1)
    _range(where, b, "coarse_dropout_holes_min", "coarse_dropout_holes_max")
    for side in ("height", "width"):
        _at_least(where, b, f"coarse_dropout_{side}_min", 0)
        _range(where, b, f"coarse_dropout_{side}_min", f"coarse_dropout_{side}_max")
    if (b.coarse_dropout_height_max >= 1) != (b.coarse_dropout_width_max >= 1):
        fail(f"{where}.coarse_dropout_width_max", b.coarse_dropout_width_max,
             "on the same scale as coarse_dropout_height_max "
             f"({b.coarse_dropout_height_max!r}): both below 1 (fractions of the side) "
             "or both from 1 (pixels)")


def _check_input(i: InputAugmentations, where: str) -> None:
    _at_least(where, i, "colorjitter_min_brightness", 0)
    _range(where, i, "colorjitter_min_brightness", "colorjitter_max_brightness")
    _at_least(where, i, "gaussnoise_min", 0)
    _range(where, i, "gaussnoise_min", "gaussnoise_max")
    if i.gaussnoise_max > 1:
        fail(f"{where}.gaussnoise_max", i.gaussnoise_max,
             "at most 1 (a fraction of the pixel range)")
    if i.motionblur_limit < 3 or i.motionblur_limit % 2 == 0:
        fail(f"{where}.motionblur_limit", i.motionblur_limit,
             "an odd int >= 3 (the largest kernel size)")
    _at_least(where, i, "randgamma_min", 1)
    _range(where, i, "randgamma_min", "randgamma_max")
    _choice(where, i, "grayscale_method", ops.GRAY_METHODS)
    _choice(where, i, "compression_type", COMPRESSION_TYPES)
    _at_least(where, i, "compression_quality_min", 1)
    _range(where, i, "compression_quality_min", "compression_quality_max")
    if i.compression_quality_max > 100:
        fail(f"{where}.compression_quality_max", i.compression_quality_max, "at most 100")
    if i.compression_chance > 0 and i.compression_type == "webp" \
            and not features.check("webp"):
        fail(f"{where}.compression_type", "webp", "'jpeg': this Pillow has no WebP codec")


def _at_least(where: str, section: object, key: str, low: float) -> None:
    value = getattr(section, key)
    if not (is_number(value) and math.isfinite(value) and value >= low):
        fail(f"{where}.{key}", value, f"a finite number >= {low}")


def _range(where: str, section: object, low: str, high: str) -> None:
    low_value, high_value = getattr(section, low), getattr(section, high)
    for key, value in ((low, low_value), (high, high_value)):
        if not math.isfinite(value):
            fail(f"{where}.{key}", value, "a finite number")
    if low_value > high_value:
        fail(f"{where}.{low}", low_value, f"<= {where}.{high} ({high_value!r})")


def _choice(where: str, section: object, key: str, choices: tuple[str, ...]) -> None:
    if getattr(section, key) not in choices:
        fail(f"{where}.{key}", getattr(section, key), f"one of {choices}")
