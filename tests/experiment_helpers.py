"""A small trained-looking experiment for the tests of the tools that read one
(``convert``, ``test``, ``export``): a config, an orbax checkpoint, paired test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from nectargan_jax.train import Checkpoints, build_training, config_fingerprint, load_config
from nectargan_jax.train._experiment import Experiment

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
