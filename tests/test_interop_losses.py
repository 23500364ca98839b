"""interop's loss modules, the pix2pix spec and the ConfigManager."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from interop import ConfigManager, LMLoss, LossManager, Laplacian, Schedule, Sobel, pix2pix
from interop.config.config_manager import DEFAULT_CONFIG
from interop.losses.losses import VGGPerceptual, vgg19_features

SOBEL_X = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)
SOBEL_Y = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=np.float64)
LAPLACE = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)


def correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """3x3 cross-correlation of a 2-D image with zero padding 1, by loops."""
    padded = np.pad(image, 1)
    out = np.zeros_like(image)
    for i in range(image.shape[0]):
        for j in range(image.shape[1]):
            out[i, j] = np.sum(padded[i:i + 3, j:j + 3] * kernel)
    return out


def images(seed: int, shape=(2, 3, 6, 5)):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator, dtype=torch.float64)


# Sobel / Laplacian ------------------------------------------------------------------------


def test_sobel_matches_the_formula():
    x, y = images(0), images(1)

    def magnitude(batch):
        gray = batch.numpy().mean(axis=1)
        return np.stack([np.sqrt(correlate(g, SOBEL_X) ** 2 + correlate(g, SOBEL_Y) ** 2 + 1e-6)
                         for g in gray])

    expected = np.abs(magnitude(x) - magnitude(y)).mean()
    assert Sobel()(x, y).item() == pytest.approx(expected, rel=1e-12)


def test_laplacian_matches_the_formula():
    x, y = images(2), images(3)

    def response(batch):
        return np.stack([correlate(g, LAPLACE) for g in batch.numpy().mean(axis=1)])

    expected = np.abs(response(x) - response(y)).mean()
    assert Laplacian()(x, y).item() == pytest.approx(expected, rel=1e-12)


def test_laplacian_impulse_response():
    x = torch.zeros(1, 3, 3, 3)
    y = x.clone()
    y[0, :, 1, 1] = 1.0  # gray impulse of height 1 at the centre
    assert Laplacian()(x, y).item() == pytest.approx(8 / 9)


def test_sobel_of_equal_images_is_zero_and_has_gradients():
    x = images(4).float().requires_grad_(True)
    y = images(5).float()
    assert Sobel()(y, y).item() == 0.0
    Sobel()(x, y).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_stencil_kernels_are_not_in_the_state_dict():
    assert Sobel().state_dict() == {} and Laplacian().state_dict() == {}


# VGGPerceptual -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vgg_weights(tmp_path_factory):
    """A VGG19 state dict file in torchvision's layout, with random weights."""
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in vgg19_features().state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)
    path = tmp_path_factory.mktemp("vgg") / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    return path


def test_vgg19_features_have_torchvisions_layout():
    features = vgg19_features()
    kinds = [type(m).__name__ for m in features]
    assert len(kinds) == 16
    assert [i for i, k in enumerate(kinds) if k == "Conv2d"] == [0, 2, 5, 7, 10, 12, 14]
    assert [i for i, k in enumerate(kinds) if k == "ReLU"] == [1, 3, 6, 8, 11, 13, 15]
    assert [i for i, k in enumerate(kinds) if k == "MaxPool2d"] == [4, 9]
    assert [features[i].out_channels for i in (0, 2, 5, 7, 10, 12, 14)] == \
        [64, 64, 128, 128, 256, 256, 256]


def test_vgg_perceptual_sums_l1_over_three_slices(vgg_weights):
    loss_fn = VGGPerceptual(vgg_weights)
    reference = vgg19_features()
    state = torch.load(vgg_weights, weights_only=True)
    reference.load_state_dict({k.removeprefix("features."): v for k, v in state.items()
                               if k.startswith("features.")})
    torch.manual_seed(1)
    fake, real = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    expected = sum(torch.nn.functional.l1_loss(reference[:b](fake), reference[:b](real))
                   for b in (4, 9, 16))
    assert loss_fn(fake, real).item() == pytest.approx(expected.item(), rel=1e-5)


def test_vgg_perceptual_is_frozen_but_passes_gradients(vgg_weights):
    loss_fn = VGGPerceptual(vgg_weights)
    assert not loss_fn.training
    assert all(not p.requires_grad for p in loss_fn.parameters())
    fake = torch.rand(1, 3, 8, 8, requires_grad=True)
    loss_fn(fake, torch.rand(1, 3, 8, 8)).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_vgg_perceptual_accepts_a_features_only_state_dict(tmp_path, vgg_weights):
    state = torch.load(vgg_weights, weights_only=True)
    path = tmp_path / "features.pth"
    torch.save({k.removeprefix("features."): v for k, v in state.items()
                if k.startswith("features.")}, path)
    x, y = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    assert VGGPerceptual(path)(x, y).item() == VGGPerceptual(vgg_weights)(x, y).item()


def test_vgg_perceptual_without_weights_says_what_to_supply(tmp_path):
    with pytest.raises(ValueError, match=r"vgg19-dcbb9e9d\.pth.*train\.loss\.vgg_weights"):
        VGGPerceptual(None)
    with pytest.raises(FileNotFoundError, match=r"IMAGENET1K_V1.*No file at"):
        VGGPerceptual(tmp_path / "missing.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, wrong)
    with pytest.raises(ValueError, match=r"lacks the VGG19 feature weights.*features\.0\.bias"):
        VGGPerceptual(wrong)


# pix2pix -----------------------------------------------------------------------------------


def describe(losses):
    return {n: (type(l.function).__name__, l.loss_weight, l.tags) for n, l in losses.items()}


def test_pix2pix_basic_with_default_lambdas():
    losses = pix2pix(None)
    assert all(isinstance(l, LMLoss) and l.name == n for n, l in losses.items())
    assert describe(losses) == {
        "G_GAN": ("BCEWithLogitsLoss", 1.0, ["G"]),
        "G_L1": ("L1Loss", 100.0, ["G"]),
        "D_real": ("BCEWithLogitsLoss", 1.0, ["D"]),
        "D_fake": ("BCEWithLogitsLoss", 1.0, ["D"]),
    }
    assert all(l.schedule == Schedule() for l in losses.values())
    assert losses["D_real"].function is not losses["D_fake"].function


def test_pix2pix_extended_reads_the_config_lambdas():
    config = ConfigManager({"train": {"loss": {"lambda_gan": 2.0, "lambda_l2": 3.0,
                                               "lambda_sobel": 4.0, "lambda_laplacian": 5.0}}})
    assert describe(pix2pix(config.data, "extended")) == {
        "G_GAN": ("BCEWithLogitsLoss", 2.0, ["G"]),
        "G_L1": ("L1Loss", 100.0, ["G"]),
        "G_L2": ("MSELoss", 3.0, ["G"]),
        "G_SOBEL": ("Sobel", 4.0, ["G"]),
        "G_LAP": ("Laplacian", 5.0, ["G"]),
        "D_real": ("BCEWithLogitsLoss", 1.0, ["D"]),
        "D_fake": ("BCEWithLogitsLoss", 1.0, ["D"]),
    }


@pytest.mark.parametrize(("subspec", "extra"), [
    ("basic+vgg", []), ("extended+vgg", ["G_L2", "G_SOBEL", "G_LAP"])])
def test_pix2pix_vgg(vgg_weights, subspec, extra):
    config = {"train": {"loss": {"lambda_vgg": 10.0, "vgg_weights": str(vgg_weights)}}}
    losses = pix2pix(config, subspec)
    assert list(losses) == ["G_GAN", "G_L1", *extra, "G_VGG", "D_real", "D_fake"]
    assert describe(losses)["G_VGG"] == ("VGGPerceptual", 10.0, ["G"])


def test_pix2pix_vgg_without_weights_is_a_clear_error():
    with pytest.raises(ValueError, match="vgg19-dcbb9e9d.pth"):
        pix2pix(None, "basic+vgg")


@pytest.mark.parametrize("subspec", ["nope", "+vgg", "Basic", ""])
def test_pix2pix_unknown_subspec_is_a_value_error(subspec):
    with pytest.raises(ValueError, match="Unknown pix2pix subspec"):
        pix2pix(None, subspec)


def test_pix2pix_runs_in_a_loss_manager(tmp_path):
    manager = LossManager(None, tmp_path)
    manager.init_from_spec(pix2pix, None, "extended")
    torch.manual_seed(0)
    fake, real = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    logits = torch.randn(1, 1, 2, 2)
    total = (manager.compute_loss_xy("G_GAN", logits, torch.ones_like(logits))
             + manager.compute_loss_xy("G_L1", fake, real)
             + manager.compute_loss_xy("G_SOBEL", fake, real))
    expected = (nn.functional.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
                + 100 * (fake - real).abs().mean())
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert manager.get_loss_weights(["G"]) == {"G_GAN": 1.0, "G_L1": 100.0, "G_L2": 0.0,
                                               "G_SOBEL": 0.0, "G_LAP": 0.0}


# ConfigManager --------------------------------------------------------------------------------


def test_config_defaults():
    data = ConfigManager().data
    assert data.common.device == "cpu"
    assert (data.dataloader.dataroot, data.dataloader.load.input_nc,
            data.dataloader.load.crop_size) == ("", 3, 256)
    loss = data.train.loss
    assert (loss.lambda_gan, loss.lambda_l1, loss.lambda_l2, loss.lambda_sobel,
            loss.lambda_laplacian, loss.lambda_vgg, loss.vgg_weights) == \
        (1.0, 100.0, 0.0, 0.0, 0.0, 0.0, None)


def test_config_partial_file_is_merged_over_defaults(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"dataloader": {"load": {"crop_size": 64}},
                                "train": {"epochs": 5, "schedule": [{"a": 1}]}}))
    data = ConfigManager(path).data
    assert data.dataloader.load.crop_size == 64 and data.dataloader.load.input_nc == 3
    assert data.train.epochs == 5 and data.train.schedule[0].a == 1
    assert data.train.loss.lambda_l1 == 100.0
    assert DEFAULT_CONFIG["dataloader"]["load"]["crop_size"] == 256


def test_config_rejects_other_inputs(tmp_path):
    with pytest.raises(TypeError, match="path to a JSON file, a dict or None"):
        ConfigManager(42)
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(TypeError, match="must hold a JSON object"):
        ConfigManager(path)
    with pytest.raises(FileNotFoundError):
        ConfigManager(tmp_path / "missing.json")
