"""Tiny pix2pix configs shared by the training tests (small enough to compile fast)."""

from __future__ import annotations

from pathlib import Path

from nectargan_jax.train import TrainConfig, load_config

# 16x16 pairs, a 2-level U-Net with 4 features, a 2-layer PatchGAN with 4-8 channels,
# convolving with XLA's own convolutions: its step compiles in half the time of the CPU
# forms' ('auto' on a CPU), which test_conv_impl.py and test_models.py test on their own.
TINY = {
    "train.generator.conv_impl": "xla",
    "dataloader.batch_size": 2,
    "dataloader.load.load_size": 16,
    "dataloader.load.crop_size": 16,
    "train.generator.features": 4,
    "train.generator.n_downs": 2,
    "train.discriminator.n_layers": 2,
    "train.discriminator.base_channels": 4,
    "train.discriminator.max_channels": 8,
    "save.model_save_rate": 1,
}


def tiny_config(output_dir: Path | str = "", **overrides) -> TrainConfig:
    """The tiny config writing under ``output_dir``; ``overrides`` use dotted keys."""
    return load_config(overrides={**TINY, "common.output_directory": str(output_dir),
                                  **overrides})
