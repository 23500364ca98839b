"""``dataloader.augmentations``: every key reaches the plan, bad values are refused by name."""

import pytest

from nectargan_jax.train import load_config
from nectargan_jax.train._augment import (Augmentations, CoarseDropout, ColorJitter,
                                          ElasticTransform, GaussNoise, HorizontalFlip,
                                          ImageCompression, MotionBlur, OpticalDistortion,
                                          RandomGamma, RandomRotate90, ToGray, VerticalFlip)
from nectargan_jax.train._augment_config import augmentations_from_config

BOTH = "dataloader.augmentations.both"
INPUT = "dataloader.augmentations.input"
# Every key of the reference's both and input sections, each with its own value.
EVERY_KEY = {
    f"{BOTH}.h_flip_chance": 0.11, f"{BOTH}.v_flip_chance": 0.12,
    f"{BOTH}.rot90_chance": 0.13, f"{BOTH}.elastic_transform_chance": 0.14,
    f"{BOTH}.elastic_transform_alpha": 2.5, f"{BOTH}.elastic_transform_sigma": 7.0,
    f"{BOTH}.optical_distortion_chance": 0.15, f"{BOTH}.optical_distortion_min": -0.2,
    f"{BOTH}.optical_distortion_max": 0.3, f"{BOTH}.optical_distortion_mode": "fisheye",
    f"{BOTH}.coarse_dropout_chance": 0.16, f"{BOTH}.coarse_dropout_holes_min": 2,
    f"{BOTH}.coarse_dropout_holes_max": 5, f"{BOTH}.coarse_dropout_height_min": 0.05,
    f"{BOTH}.coarse_dropout_height_max": 0.25, f"{BOTH}.coarse_dropout_width_min": 0.06,
    f"{BOTH}.coarse_dropout_width_max": 0.26,
    f"{INPUT}.colorjitter_chance": 0.21, f"{INPUT}.colorjitter_min_brightness": 0.7,
    f"{INPUT}.colorjitter_max_brightness": 1.4, f"{INPUT}.gaussnoise_chance": 0.22,
    f"{INPUT}.gaussnoise_min": 0.01, f"{INPUT}.gaussnoise_max": 0.02,
    f"{INPUT}.motionblur_chance": 0.23, f"{INPUT}.motionblur_limit": 9,
    f"{INPUT}.randgamma_chance": 0.24, f"{INPUT}.randgamma_min": 90.0,
    f"{INPUT}.randgamma_max": 110.0, f"{INPUT}.grayscale_chance": 0.25,
    f"{INPUT}.grayscale_method": "desaturation", f"{INPUT}.compression_chance": 0.26,
    f"{INPUT}.compression_type": "webp", f"{INPUT}.compression_quality_min": 40,
    f"{INPUT}.compression_quality_max": 80,
}


def test_every_key_of_the_reference_reaches_the_plan_in_its_order():
    default = load_config().to_dict()["dataloader"]["augmentations"]
    assert {f"{BOTH}.{k}" for k in default["both"]} | {f"{INPUT}.{k}" for k in
                                                       default["input"]} == set(EVERY_KEY)
    plan = augmentations_from_config(load_config(overrides=EVERY_KEY).dataloader.augmentations)
    assert plan == Augmentations(
        both=(HorizontalFlip(0.11), VerticalFlip(0.12), RandomRotate90(0.13),
              ElasticTransform(0.14, 2.5, 7.0), OpticalDistortion(0.15, -0.2, 0.3, "fisheye"),
              CoarseDropout(0.16, (2, 5), (0.05, 0.25), (0.06, 0.26))),
        input=(ColorJitter(0.21, (0.7, 1.4)), GaussNoise(0.22, (0.01, 0.02)),
               MotionBlur(0.23, 9), RandomGamma(0.24, (90.0, 110.0)),
               ToGray(0.25, "desaturation")),
        compression=ImageCompression(0.26, "webp", (40, 80)))
    assert plan.on_host


def test_steps_with_chance_zero_are_left_out():
    plan = augmentations_from_config(load_config().dataloader.augmentations)
    assert plan == Augmentations(both=(HorizontalFlip(0.5),)) and not plan.on_host
    off = load_config(overrides={f"{BOTH}.h_flip_chance": 0})
    assert augmentations_from_config(off.dataloader.augmentations).empty


@pytest.mark.parametrize("key, value, named, message", [
    (f"{BOTH}.v_flip_chance", 1.5, None, "a probability in \\[0, 1\\], got 1.5"),
    (f"{INPUT}.compression_chance", -0.1, None, "a probability in \\[0, 1\\], got -0.1"),
    (f"{BOTH}.elastic_transform_alpha", -1.0, None, "a finite number >= 0"),
    (f"{BOTH}.elastic_transform_sigma", 0.5, None, "a finite number >= 1"),
    (f"{BOTH}.optical_distortion_min", 0.1, None,
     f"<= {BOTH}.optical_distortion_max \\(0.05\\), got 0.1"),
    (f"{BOTH}.optical_distortion_max", float("inf"), None, "a finite number, got inf"),
    (f"{BOTH}.optical_distortion_mode", "barrel", None, "one of \\('camera', 'fisheye'\\)"),
    (f"{BOTH}.coarse_dropout_holes_min", 0, None, "a finite number >= 1, got 0"),
    (f"{BOTH}.coarse_dropout_holes_min", 3, None,
     f"<= {BOTH}.coarse_dropout_holes_max \\(2\\)"),
    (f"{BOTH}.coarse_dropout_height_min", 0.3, None,
     f"<= {BOTH}.coarse_dropout_height_max \\(0.2\\)"),
    (f"{BOTH}.coarse_dropout_width_min", -0.1, None, "a finite number >= 0"),
    (f"{BOTH}.coarse_dropout_width_max", 4.0, None,
     "on the same scale as coarse_dropout_height_max"),
    (f"{INPUT}.colorjitter_min_brightness", 1.5, None,
     f"<= {INPUT}.colorjitter_max_brightness \\(1.2\\)"),
    (f"{INPUT}.colorjitter_min_brightness", -0.5, None, "a finite number >= 0"),
    (f"{INPUT}.gaussnoise_min", 0.5, None, f"<= {INPUT}.gaussnoise_max \\(0.44\\)"),
    (f"{INPUT}.gaussnoise_max", 1.5, None, "at most 1"),
    (f"{INPUT}.motionblur_limit", 8, None, "an odd int >= 3"),
    (f"{INPUT}.motionblur_limit", 1, None, "an odd int >= 3"),
    (f"{INPUT}.randgamma_min", 0.5, None, "a finite number >= 1"),
    (f"{INPUT}.randgamma_max", 70.0, f"{INPUT}.randgamma_min",
     f"<= {INPUT}.randgamma_max \\(70.0\\), got 80.0"),
    (f"{INPUT}.grayscale_method", "luma", None, "one of \\('weighted_average'"),
    (f"{INPUT}.compression_type", "png", None, "one of \\('jpeg', 'webp'\\)"),
    (f"{INPUT}.compression_quality_min", 0, None, "a finite number >= 1, got 0"),
    (f"{INPUT}.compression_quality_max", 101, None, "at most 100"),
])
def test_bad_values_are_refused_naming_the_key(key, value, named, message):
    with pytest.raises(ValueError, match=f"config key '{named or key}' must be {message}"):
        load_config(overrides={key: value})
