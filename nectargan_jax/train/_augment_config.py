"""``dataloader.augmentations`` of a config: its values checked, its plan built.

The checks follow what albumentations 2.0.8 (the reference's library) accepts for the
transforms the reference builds from these keys, and refuse what would make a transform
meaningless (a range whose min exceeds its max); each error names the key path.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from PIL import features

from nectargan_jax.train import _augment_ops as ops
from nectargan_jax.train._augment import (Augmentations, ColorJitter, CoarseDropout,
                                          ElasticTransform, GaussNoise, HorizontalFlip,
                                          ImageCompression, MotionBlur, OpticalDistortion,
                                          RandomGamma, RandomRotate90, ToGray, VerticalFlip)

OPTICAL_MODES = ("camera", "fisheye")
COMPRESSION_TYPES = ("jpeg", "webp")


def augmentations_from_config(config: dict[str, Any]) -> Augmentations:
    """The plan of a validated config's ``dataloader.augmentations``.

    Examples:
      >>> from nectargan_jax.train import load_config
      >>> augmentations_from_config(load_config()).both
      (HorizontalFlip(chance=0.5),)
    """
    augs = config["dataloader"]["augmentations"]
    b, i = augs["both"], augs["input"]
    both = (
        HorizontalFlip(b["h_flip_chance"]),
        VerticalFlip(b["v_flip_chance"]),
        RandomRotate90(b["rot90_chance"]),
        ElasticTransform(b["elastic_transform_chance"], b["elastic_transform_alpha"],
                         b["elastic_transform_sigma"]),
        OpticalDistortion(b["optical_distortion_chance"], b["optical_distortion_min"],
                          b["optical_distortion_max"], b["optical_distortion_mode"]),
        CoarseDropout(b["coarse_dropout_chance"],
                      (b["coarse_dropout_holes_min"], b["coarse_dropout_holes_max"]),
                      (b["coarse_dropout_height_min"], b["coarse_dropout_height_max"]),
                      (b["coarse_dropout_width_min"], b["coarse_dropout_width_max"])),
    )
    inputs = (
        ColorJitter(i["colorjitter_chance"], (i["colorjitter_min_brightness"],
                                              i["colorjitter_max_brightness"])),
        GaussNoise(i["gaussnoise_chance"], (i["gaussnoise_min"], i["gaussnoise_max"])),
        MotionBlur(i["motionblur_chance"], i["motionblur_limit"]),
        RandomGamma(i["randgamma_chance"], (i["randgamma_min"], i["randgamma_max"])),
        ToGray(i["grayscale_chance"], i["grayscale_method"]),
    )
    compression = ImageCompression(
        i["compression_chance"], i["compression_type"],
        (i["compression_quality_min"], i["compression_quality_max"]))
    return Augmentations(tuple(s for s in both if s.chance > 0),
                         tuple(s for s in inputs if s.chance > 0),
                         compression if compression.chance > 0 else None)


def check_augmentations(augs: dict[str, Any]) -> None:
    """Checks ``dataloader.augmentations``' values (types are checked before).

    Raises:
      ValueError: a chance outside [0, 1], a range with min > max, or a value outside
        what its key takes; the message names the key path.
    """
    where = "dataloader.augmentations"
    for section in ("both", "input"):
        for key, value in augs[section].items():
            if key.endswith("_chance") and not 0 <= value <= 1:
                _fail(f"{where}.{section}.{key}", value, "a probability in [0, 1]")
    b, i = augs["both"], augs["input"]
    both, inputs = f"{where}.both", f"{where}.input"
    _at_least(both, b, "elastic_transform_alpha", 0)
    _at_least(both, b, "elastic_transform_sigma", 1)
    _range(both, b, "optical_distortion_min", "optical_distortion_max")
    _choice(both, b, "optical_distortion_mode", OPTICAL_MODES)
    _at_least(both, b, "coarse_dropout_holes_min", 1)
    _range(both, b, "coarse_dropout_holes_min", "coarse_dropout_holes_max")
    for side in ("height", "width"):
        _at_least(both, b, f"coarse_dropout_{side}_min", 0)
        _range(both, b, f"coarse_dropout_{side}_min", f"coarse_dropout_{side}_max")
    if (b["coarse_dropout_height_max"] >= 1) != (b["coarse_dropout_width_max"] >= 1):
        _fail(f"{both}.coarse_dropout_width_max", b["coarse_dropout_width_max"],
              "on the same scale as coarse_dropout_height_max "
              f"({b['coarse_dropout_height_max']!r}): both below 1 (fractions of the side) "
              "or both from 1 (pixels)")
    _at_least(inputs, i, "colorjitter_min_brightness", 0)
    _range(inputs, i, "colorjitter_min_brightness", "colorjitter_max_brightness")
    _at_least(inputs, i, "gaussnoise_min", 0)
    _range(inputs, i, "gaussnoise_min", "gaussnoise_max")
    if i["gaussnoise_max"] > 1:
        _fail(f"{inputs}.gaussnoise_max", i["gaussnoise_max"],
              "at most 1 (a fraction of the pixel range)")
    if i["motionblur_limit"] < 3 or i["motionblur_limit"] % 2 == 0:
        _fail(f"{inputs}.motionblur_limit", i["motionblur_limit"],
              "an odd int >= 3 (the largest kernel size)")
    _at_least(inputs, i, "randgamma_min", 1)
    _range(inputs, i, "randgamma_min", "randgamma_max")
    _choice(inputs, i, "grayscale_method", ops.GRAY_METHODS)
    _choice(inputs, i, "compression_type", COMPRESSION_TYPES)
    _at_least(inputs, i, "compression_quality_min", 1)
    _range(inputs, i, "compression_quality_min", "compression_quality_max")
    if i["compression_quality_max"] > 100:
        _fail(f"{inputs}.compression_quality_max", i["compression_quality_max"],
              "at most 100")
    if i["compression_chance"] > 0 and i["compression_type"] == "webp" \
            and not features.check("webp"):
        _fail(f"{inputs}.compression_type", "webp",
              "'jpeg': this Pillow has no WebP codec")


def _fail(path: str, value: Any, accepted: str) -> None:
    raise ValueError(f"config key {path!r} must be {accepted}, got {value!r}.")


def _at_least(where: str, section: dict, key: str, low: float) -> None:
    value = section[key]
    if not (isinstance(value, numbers.Real) and math.isfinite(value) and value >= low):
        _fail(f"{where}.{key}", value, f"a finite number >= {low}")


def _range(where: str, section: dict, low: str, high: str) -> None:
    for key in (low, high):
        if not math.isfinite(section[key]):
            _fail(f"{where}.{key}", section[key], "a finite number")
    if section[low] > section[high]:
        _fail(f"{where}.{low}", section[low], f"<= {where}.{high} ({section[high]!r})")


def _choice(where: str, section: dict, key: str, choices: tuple[str, ...]) -> None:
    if section[key] not in choices:
        _fail(f"{where}.{key}", section[key], f"one of {choices}")
