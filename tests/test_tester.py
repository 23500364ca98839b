"""``nectargan-jax test``: the reference tester's images and log, its metrics plus PSNR/SSIM.

Every logged number is recomputed here independently: the output by the PyTorch twin of
the reference's generator (with the experiment's weights), L1, Sobel and Laplacian with
torch as the reference's loss modules compute them, PSNR and SSIM (Wang et al. 2004,
Gaussian window 11, sigma 1.5) in NumPy.
"""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from experiment_helpers import make_experiment, reference_experiment, twins, write_pairs
from nectargan_jax.models import torch_state_dict
from nectargan_jax.train._cli import main
from nectargan_jax.train._tester import run_test
from nectargan_jax.train._trained import load_trained

LOG_KEYS = {"experiment": ["name", "version", "path"],
            "test": ["version", "path", "load_epoch", "results"]}
ENTRY_KEYS = ["iteration", "test_data_path", "output", "losses", "metrics"]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return make_experiment(tmp_path_factory.mktemp("tester"), epoch=2)


def halves(path):
    """The input and target of a side-by-side pair, NCHW in [-1, 1] (32x32: no resize)."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), np.float32) / 127.5 - 1
    width = pixels.shape[1] // 2
    return [torch.from_numpy(np.ascontiguousarray(h.transpose(2, 0, 1)[None]))
            for h in (pixels[:, :width], pixels[:, width:])]


def filtered(image, kernel):
    return F.conv2d(image.mean(dim=1, keepdim=True), kernel.view(1, 1, 3, 3), padding=1)


def reference_losses(y, fake):
    """The reference's L1Loss, Sobel and Laplacian (REFERENCE.md), with torch."""
    kx = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])
    ky = torch.tensor([[1.0, 2, 1], [0, 0, 0], [-1, -2, -1]])
    magnitude = [torch.sqrt(filtered(a, kx) ** 2 + filtered(a, ky) ** 2 + 1e-6) for a in (y, fake)]
    lap = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])
    return {"L1": (y - fake).abs().mean().item(),
            "SOBEL": (magnitude[0] - magnitude[1]).abs().mean().item(),
            "LAPLACIAN": (filtered(y, lap) - filtered(fake, lap)).abs().mean().item()}


def ssim(a, b):
    """Mean SSIM of two HWC images in [0, 1]: Gaussian window 11, sigma 1.5, valid."""
    k = np.exp(-0.5 * ((np.arange(11) - 5) / 1.5) ** 2)
    k /= k.sum()

    def blur(z):
        z = np.apply_along_axis(lambda r: np.convolve(r, k, mode="valid"), 0, z)
        return np.apply_along_axis(lambda r: np.convolve(r, k, mode="valid"), 1, z)

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return float(np.mean((2 * mu_a * mu_b + c1) * (2 * cov + c2)
                         / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))))


def check_entry(entry, generator):
    """The entry's numbers against the independent computation with ``generator`` (torch)."""
    x, y = halves(entry["test_data_path"])
    with torch.no_grad():
        fake = generator(x)
    losses = reference_losses(y, fake)
    assert entry["losses"] == pytest.approx(losses, rel=1e-4, abs=1e-6)
    unit = [np.clip((a[0].numpy().transpose(1, 2, 0) + 1) / 2, 0, 1).astype(np.float64)
            for a in (y, fake)]
    psnr = -10 * np.log10(np.mean((unit[0] - unit[1]) ** 2))
    assert entry["metrics"] == pytest.approx({"PSNR": psnr, "SSIM": ssim(*unit)}, rel=1e-4)
    with Image.open(entry["output"]["y_fake"]) as image:
        saved = np.asarray(image, np.float32)
    assert np.abs(saved - unit[1] * 255).max() <= 0.51  # rounded to the nearest level


def test_writes_the_reference_testers_images_and_log(experiment, capsys):
    assert main(["test", str(experiment), "--load-epoch", "2"]) == 0
    folder = experiment / "test" / "test_01"
    assert "tested 3 pairs: mean L1 " in capsys.readouterr().out
    log = json.loads((folder / "log.json").read_text())
    assert {key: list(value) for key, value in log.items()} == LOG_KEYS
    assert log["experiment"] == {"name": "NectarGAN", "version": 1,
                                 "path": experiment.resolve().as_posix()}
    assert (log["test"]["version"], log["test"]["load_epoch"]) == (1, 2)
    results = log["test"]["results"]
    pairs = sorted((experiment.parent / "data" / "test").iterdir())
    assert [r["test_data_path"] for r in results] == [p.resolve().as_posix() for p in pairs]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["log.json"] + [f"{i}_{kind}.png" for i in (1, 2, 3)
                        for kind in ("A_real", "B_real", "B_fake")])
    twin, _ = twins(load_trained(experiment, load_epoch=2).config)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in torch_state_dict(
        load_trained(experiment, load_epoch=2).generator).items()}, strict=True)
    for i, entry in enumerate(results, start=1):
        assert list(entry) == ENTRY_KEYS and entry["iteration"] == i
        assert entry["output"]["x"] == (folder / f"{i}_A_real.png").resolve().as_posix()
        check_entry(entry, twin)
    again = run_test(experiment, load_epoch=2, count=2, seed=5)
    assert again.output_dir == experiment / "test" / "test_02"  # the reference's numbering
    assert [r["test_data_path"] for r in again.results] == [
        r["test_data_path"] for r in run_test(experiment, load_epoch=2, count=2, seed=5).results]
    assert len(again.results) == 2


def test_a_reference_experiment_is_tested_from_its_own_files(tmp_path, experiment):
    """The reference's checkpoint files (torch's weights) are read as they are."""
    config = load_trained(experiment, load_epoch=2).config
    folder = tmp_path / "reference_v1"
    twin, _ = reference_experiment(folder, config, epoch=4, seed=3)
    run = run_test(folder, load_epoch=4)
    assert run.output_dir == folder / "test" / "test_01" and len(run.results) == 3
    for entry in run.results:
        check_entry(entry, twin)


def test_bad_input_is_refused_before_anything_is_written(tmp_path, experiment):
    before = sorted(p.name for p in (experiment / "test").glob("*")) if (
        experiment / "test").exists() else []
    with pytest.raises(FileNotFoundError, match=r"no weights of epoch 9 \(load_epoch\) .*"
                                                r"epochs there: \[2\]"):
        run_test(experiment, load_epoch=9)
    (tmp_path / "empty" / "test").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images .* in .*empty/test"):
        run_test(experiment, load_epoch=2, dataroot=str(tmp_path / "empty"))
    write_pairs(tmp_path / "no_test" / "train", 1)
    with pytest.raises(FileNotFoundError, match="has no 'test' folder"):
        run_test(experiment, load_epoch=2, dataroot=str(tmp_path / "no_test"))
    with pytest.raises(ValueError, match="count must be a positive int or None, got count=0"):
        run_test(experiment, load_epoch=2, count=0)
    after = sorted(p.name for p in (experiment / "test").glob("*")) if (
        experiment / "test").exists() else []
    assert after == before
