"""``nectargan-jax test``: a trained generator on the test split, as the reference's tester.

For each test pair, in a new folder ``<experiment>/test/test_<NN>/``, it writes the
input, the target and the generator's output (eval mode) as ``<i>_A_real.png``,
``<i>_B_real.png`` and ``<i>_B_fake.png``, and appends to ``log.json`` the reference's
entry with two more metrics::

    {"experiment": {"name", "version", "path"},
     "test": {"version", "path", "load_epoch", "results": [
        {"iteration": i, "test_data_path": ..., "output": {"x", "y", "y_fake"},
         "losses": {"L1", "SOBEL", "LAPLACIAN"}, "metrics": {"PSNR", "SSIM"}}, ...]}}

``L1``, ``SOBEL`` and ``LAPLACIAN`` are the reference's loss functions of the target and
the output in [-1, 1] (``nectargan_jax.losses.l1``, ``sobel``, ``laplacian``); ``PSNR``
(dB) and ``SSIM`` (Gaussian window 11, sigma 1.5; null for images under 11 pixels) are
dm-pix's, on both images mapped to [0, 1] and clipped, as they are saved.

Unlike the reference's tester, which loads the test split through the training
augmentations (a random crop of ``load_size`` images, random flips), the images are
resized to ``crop_size`` as its validation loader does, so the numbers are reproducible;
all pairs are tested in order unless ``count`` asks for a seeded random sample.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
import re

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from nectargan_jax import _files as files
from nectargan_jax.losses import l1, laplacian, sobel
from nectargan_jax.train._config import TrainConfig
from nectargan_jax.train._data import PairedDataset, PairedImageFolder, SyntheticPairs
from nectargan_jax.train._loop import SYNTHETIC_PAIRS
from nectargan_jax.train._plots import to_uint8
from nectargan_jax.train._trained import load_trained

SSIM_WINDOW = 11


DM_PIX_MISSING = ("nectargan-jax test computes PSNR and SSIM with dm-pix, which is not "
                  "installed: pip install 'nectargan_jax[train]' (or dm-pix).")


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """What ``run_test`` wrote: the folder, its ``log.json`` and the log's results."""

    output_dir: Path
    log: Path
    results: list[dict]


def test_pairs(config: TrainConfig, *, seed: int = 0) -> PairedDataset:
    """The test pairs of a config: ``dataroot/test`` resized to ``crop_size`` (no crop, no
    flip), or with an empty ``dataroot`` the embedded task's own pairs (seed ``seed + 2``;
    training uses ``seed``, the examples ``seed + 1``).

    Raises:
      FileNotFoundError: no ``test`` folder; ValueError: no images in it.
    """
    data, load = config.dataloader, config.dataloader.load
    if not data.dataroot:
        return SyntheticPairs(SYNTHETIC_PAIRS, load.crop_size, seed + 2,
                              channels=load.input_nc)
    return PairedImageFolder(data.dataroot, "test", data.direction,
                             load_size=load.crop_size, crop_size=load.crop_size,
                             flip_chance=0.0, channels=load.input_nc)


def run_test(experiment: str | os.PathLike, *, load_epoch: int | None = None,
             config_file: str | os.PathLike | None = None, dataroot: str | None = None,
             count: int | None = None, seed: int = 0) -> Evaluation:
    """Runs the generator of one epoch of ``experiment`` on the test split.

    Args:
      experiment: a trained experiment folder (this project's, or the reference's or
        one converted by ``nectargan-jax convert``: see ``load_trained``).
      load_epoch: the checkpoint's epoch; None = the config's ``train.load.load_epoch``.
      config_file: the config (default: the folder's newest ``train<k>_config.json``).
      dataroot: overrides ``dataloader.dataroot`` (its ``test`` folder is read).
      count: test a random sample of this many pairs (seeded by ``seed``); None = all.
      seed: the sample's seed (and the embedded task's, for an empty dataroot).

    Returns:
      An ``Evaluation``.

    Raises:
      FileNotFoundError: no experiment, config, weights of that epoch or test folder.
      ValueError: an empty test folder, weights that do not fit the config, a bad count.
      ImportError: dm-pix is not installed. All before anything is written.
    """
    try:
        import dm_pix  # noqa: F401  (imported again where the metrics are traced)
    except ImportError:
        raise ImportError(DM_PIX_MISSING) from None
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                              or count < 1):
        raise ValueError(f"count must be a positive int or None, got count={count!r}.")
    overrides = None if dataroot is None else {"dataloader.dataroot": str(dataroot)}
    trained = load_trained(experiment, load_epoch=load_epoch, config_file=config_file,
                           overrides=overrides)
    dataset = test_pairs(trained.config, seed=seed)
    indices = list(range(len(dataset)))
    if count is not None and count < len(indices):
        indices = sorted(np.random.default_rng(seed).choice(len(indices), count,
                                                            replace=False).tolist())
    output_dir = _new_test_dir(trained.experiment / "test")
    common = trained.config.common
    log = {"experiment": {"name": common.experiment_name,
                          "version": common.experiment_version,
                          "path": trained.experiment.resolve().as_posix()},
           "test": {"version": int(output_dir.name.split("_")[-1]),
                    "path": output_dir.resolve().as_posix(), "load_epoch": trained.epoch,
                    "results": []}}
    log_path = output_dir / "log.json"
    _write_json(log_path, log)
    for i, index in enumerate(indices, start=1):
        x, y = dataset.load(index, np.random.default_rng((seed, index)))
        fake, values = _evaluate(trained.generator, jnp.asarray(x[None]), jnp.asarray(y[None]))
        names = {}
        for key, image, kind in (("x", x, "A_real"), ("y", y, "B_real"),
                                 ("y_fake", np.asarray(fake[0]), "B_fake")):
            names[key] = _save_png(image, output_dir / f"{i}_{kind}.png")
        values = {k: float(v) for k, v in values.items()}
        log["test"]["results"].append({
            "iteration": i, "test_data_path": _describe(dataset, index), "output": names,
            "losses": {k: values[k] for k in ("L1", "SOBEL", "LAPLACIAN")},
            "metrics": {"PSNR": values["PSNR"],
                        "SSIM": values["SSIM"] if min(x.shape[:2]) >= SSIM_WINDOW else None}})
        _write_json(log_path, log)
    return Evaluation(output_dir, log_path, log["test"]["results"])


@nnx.jit
def _evaluate(generator: nnx.Module, x: jax.Array, y: jax.Array):
    """The output for ``x`` and its losses and metrics against ``y`` (NHWC, [-1, 1])."""
    import dm_pix

    fake = generator(x)
    unit_fake, unit_y = (jnp.clip((a + 1) / 2, 0, 1) for a in (fake, y))
    window = min(SSIM_WINDOW, *x.shape[1:3])
    return fake, {"L1": l1(y, fake), "SOBEL": sobel(y, fake), "LAPLACIAN": laplacian(y, fake),
                  "PSNR": dm_pix.psnr(unit_y, unit_fake)[0],
                  "SSIM": dm_pix.ssim(unit_y, unit_fake, max_val=1.0, filter_size=window)[0]}


def _new_test_dir(root: Path) -> Path:
    """``root/test_<NN>``, NN one more than the largest there (the reference's rule)."""
    versions = [int(m.group(1)) for p in root.glob("test_*")
                if (m := re.fullmatch(r"test_(\d+)", p.name))] if root.is_dir() else []
    folder = root / f"test_{1 + max(versions, default=0):02d}"
    folder.mkdir(parents=True)
    return folder


def _save_png(image: np.ndarray, path: Path) -> str:
    pixels = to_uint8(image)
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(path)
    return path.resolve().as_posix()


def _describe(dataset: PairedDataset, index: int) -> str:
    if isinstance(dataset, PairedImageFolder):
        return dataset.paths[index].resolve().as_posix()
    return f"synthetic pair {index} (seed {dataset.seed})"


def _write_json(path: Path, data: dict) -> None:
    tmp, _ = files.write_temp(path, lambda stream: stream.write(json.dumps(data, indent=4)))
    files.replace(tmp, path)
