"""Experiments for the tests of the tools that read one (``convert``, ``test``,
``export``): this project's (a config, an orbax checkpoint, paired test images) and the
reference's (its config and checkpoint files, from the PyTorch twin)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
import torch

from nectargan_jax.train import Checkpoints, TrainConfig, build_training, config_fingerprint
from nectargan_jax.train import load_config
from nectargan_jax.train._experiment import Experiment
from torch_pix2pix import TorchPatchGAN, TorchUnet

# A config the reference can run too (n_downs >= 3): 32x32 pairs, 4 features.
SMALL = {
    "dataloader.batch_size": 1,
    "dataloader.load.load_size": 32,
    "dataloader.load.crop_size": 32,
    "train.generator.features": 4,
    "train.generator.n_downs": 3,
    "train.discriminator.n_layers": 2,
    "train.discriminator.base_channels": 4,
    "train.discriminator.max_channels": 8,
}


def write_pairs(folder: Path, count: int, size: int = 32, seed: int = 0) -> list[Path]:
    """``count`` side-by-side RGB pairs (input | target) of ``size`` pixels, smooth enough
    that resizing changes little."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        coarse = rng.integers(0, 256, (4, 8, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((2 * size, size), Image.Resampling.BILINEAR)
        paths.append(folder / f"pair_{i}.png")
        image.save(paths[-1])
    return paths


def make_experiment(root: Path, *, epoch: int = 2, seed: int = 0, **overrides) -> Path:
    """``root/NectarGAN_v1`` with the config (``SMALL`` + ``overrides``, dataroot
    ``root/data`` holding 3 test pairs) and the initial state saved as epoch ``epoch``."""
    write_pairs(root / "data" / "test", 3)
    config = load_config(overrides={**SMALL, "common.output_directory": str(root),
                                    "dataloader.dataroot": str(root / "data"), **overrides})
    experiment = Experiment(root / "NectarGAN_v1")
    experiment.dir.mkdir(parents=True)
    experiment.export_config(config)
    _, state = build_training(config, steps_per_epoch=1, seed=seed, capacity=1)
    checkpoints = Checkpoints(experiment.checkpoints)
    checkpoints.save(epoch, state, config_fingerprint(config))
    checkpoints.close()
    return experiment.dir


def twins(config: TrainConfig) -> tuple[TorchUnet, TorchPatchGAN]:
    """The reference's generator and discriminator of ``config`` (its PyTorch twin), eval."""
    channels = config.dataloader.load.input_nc
    gen, disc = config.train.generator, config.train.discriminator
    return (TorchUnet(channels, channels, gen.features, gen.n_downs, gen.block_type,
                      gen.upsample_type).eval(),
            TorchPatchGAN(2 * channels, disc.n_layers, disc.base_channels,
                          disc.max_channels).eval())


def reference_experiment(folder: Path, config: TrainConfig, epoch: int, seed: int
                         ) -> tuple[TorchUnet, TorchPatchGAN]:
    """A folder as the reference's trainer leaves it: its config and, per network,
    ``torch.save({'state_dict': ..., 'optimizer': ...})``, weights drawn by torch."""
    folder.mkdir(parents=True)
    (folder / "train1_config.json").write_text(config.to_json())
    torch.manual_seed(seed)
    nets = twins(config)
    for net, model in zip("GD", nets):
        adam = torch.optim.Adam(model.parameters(), lr=2e-4, betas=(0.5, 0.999))
        torch.save({"state_dict": model.state_dict(), "optimizer": adam.state_dict()},
                   folder / f"epoch{epoch}_net{net}.pth.tar")
    return nets
