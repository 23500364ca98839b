"""A dataset script written against the reference's config API runs on interop's config.

``transforms`` reads the config the way NectarGAN's ``dataset/augmentations.py`` and
``dataset/paired_dataset.py`` do (attribute access down to
``config.dataloader.augmentations.both.h_flip_chance`` and ``.input.colorjitter_chance``,
a transform added only when its chance is above 0) and lists the transforms it would build
with their arguments, in albumentations' words; it needs nothing but the config.
"""

from __future__ import annotations

import json

from interop.config.config_manager import ConfigManager
from interop_configs import reference_config


def transforms(config) -> tuple[list, list, dict]:
    """``(both, input, loading)``: the transforms for both images and for the input, and
    the loading settings, as the reference's dataset code reads them."""
    augs = config.dataloader.augmentations
    b, i = augs.both, augs.input
    crop = config.dataloader.load.crop_size
    both = [("RandomCrop", crop, crop)]
    for name, chance in (("HorizontalFlip", b.h_flip_chance), ("VerticalFlip", b.v_flip_chance),
                         ("RandomRotate90", b.rot90_chance)):
        if chance > 0.0:
            both.append((name, chance))
    if b.elastic_transform_chance > 0.0:
        both.append(("ElasticTransform", b.elastic_transform_alpha, b.elastic_transform_sigma,
                     b.elastic_transform_chance))
    if b.optical_distortion_chance > 0.0:
        both.append(("OpticalDistortion", (b.optical_distortion_min, b.optical_distortion_max),
                     b.optical_distortion_mode, b.optical_distortion_chance))
    if b.coarse_dropout_chance > 0.0:
        both.append(("CoarseDropout", (b.coarse_dropout_holes_min, b.coarse_dropout_holes_max),
                     (b.coarse_dropout_height_min, b.coarse_dropout_height_max),
                     (b.coarse_dropout_width_min, b.coarse_dropout_width_max)))
    inputs = []
    if i.colorjitter_chance > 0.0:
        inputs.append(("ColorJitter", (i.colorjitter_min_brightness,
                                       i.colorjitter_max_brightness), i.colorjitter_chance))
    if i.gaussnoise_chance > 0.0:
        inputs.append(("GaussNoise", (i.gaussnoise_min, i.gaussnoise_max), i.gaussnoise_chance))
    if i.motionblur_chance > 0.0:
        inputs.append(("MotionBlur", (3, i.motionblur_limit), i.motionblur_chance))
    if i.randgamma_chance > 0.0:
        inputs.append(("RandomGamma", (i.randgamma_min, i.randgamma_max), i.randgamma_chance))
    if i.grayscale_chance > 0.0:
        inputs.append(("ToGray", 3, i.grayscale_method, i.grayscale_chance))
    if i.compression_chance > 0.0:
        inputs.append(("ImageCompression", i.compression_type,
                       (i.compression_quality_min, i.compression_quality_max),
                       i.compression_chance))
    loading = {"load_size": config.dataloader.load.load_size, "crop_size": crop,
               "direction": config.dataloader.direction, "dataroot": config.dataloader.dataroot}
    return both, inputs, loading


def test_the_default_config_gives_the_references_default_transforms():
    both, inputs, loading = transforms(ConfigManager().data)
    assert both == [("RandomCrop", 256, 256), ("HorizontalFlip", 0.5)]
    assert inputs == []
    assert loading == {"load_size": 286, "crop_size": 256, "direction": "AtoB", "dataroot": ""}


def test_every_augmentation_setting_is_read_from_a_config_file(tmp_path):
    settings = {
        "dataloader.load.crop_size": 128, "dataloader.direction": "BtoA",
        "dataloader.augmentations.both.v_flip_chance": 0.2,
        "dataloader.augmentations.both.rot90_chance": 0.3,
        "dataloader.augmentations.both.elastic_transform_chance": 0.4,
        "dataloader.augmentations.both.optical_distortion_chance": 0.5,
        "dataloader.augmentations.both.optical_distortion_mode": "fisheye",
        "dataloader.augmentations.both.coarse_dropout_chance": 0.6,
        "dataloader.augmentations.input.colorjitter_chance": 0.7,
        "dataloader.augmentations.input.gaussnoise_chance": 0.8,
        "dataloader.augmentations.input.motionblur_chance": 0.9,
        "dataloader.augmentations.input.motionblur_limit": 9,
        "dataloader.augmentations.input.randgamma_chance": 0.15,
        "dataloader.augmentations.input.grayscale_chance": 0.25,
        "dataloader.augmentations.input.grayscale_method": "max",
        "dataloader.augmentations.input.compression_chance": 0.35,
        "dataloader.augmentations.input.compression_type": "webp",
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"config": reference_config(settings)}))
    both, inputs, loading = transforms(ConfigManager(input_config=str(path)).data)
    assert both == [("RandomCrop", 128, 128), ("HorizontalFlip", 0.5), ("VerticalFlip", 0.2),
                    ("RandomRotate90", 0.3), ("ElasticTransform", 1.0, 50.0, 0.4),
                    ("OpticalDistortion", (-0.05, 0.05), "fisheye", 0.5),
                    ("CoarseDropout", (1, 2), (0.1, 0.2), (0.1, 0.2))]
    assert inputs == [("ColorJitter", (0.8, 1.2), 0.7), ("GaussNoise", (0.2, 0.44), 0.8),
                      ("MotionBlur", (3, 9), 0.9), ("RandomGamma", (80.0, 120.0), 0.15),
                      ("ToGray", 3, "max", 0.25), ("ImageCompression", "webp", (99, 100), 0.35)]
    assert loading["direction"] == "BtoA"


def test_a_setting_missing_from_a_nested_section_is_none(tmp_path):
    inner = reference_config()
    del inner["dataloader"]["augmentations"]["input"]["gaussnoise_max"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"config": inner}))
    augs = ConfigManager(input_config=str(path)).data.dataloader.augmentations
    assert augs.input.gaussnoise_max is None and augs.input.gaussnoise_min == 0.2
    assert augs.output is None  # the file's section is 'target', the dataclass's 'output'
