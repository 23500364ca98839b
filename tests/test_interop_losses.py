"""interop's loss modules and the pix2pix spec."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from interop import ConfigManager, LMLoss, LossManager, Laplacian, Schedule, Sobel, pix2pix
from interop.losses.losses import VGGPerceptual, vgg19_features
from interop_configs import reference_config
from interop_reference_math import laplacian_loss, sobel_loss


def images(seed: int, shape=(2, 3, 6, 5)):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator, dtype=torch.float64)


# Sobel / Laplacian ------------------------------------------------------------------------


def test_sobel_matches_the_formula():
    x, y = images(0), images(1)
    expected = sobel_loss(x.numpy(), y.numpy())
    assert Sobel()(x, y).item() == pytest.approx(expected, rel=1e-12)


def test_laplacian_matches_the_formula():
    x, y = images(2), images(3)
    expected = laplacian_loss(x.numpy(), y.numpy())
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


@pytest.mark.parametrize("module", [Sobel, Laplacian, VGGPerceptual])
@pytest.mark.parametrize("shapes", [((3, 8, 8), (3, 8, 8)), ((1, 3, 8, 8), (2, 3, 8, 8)),
                                    ((1, 3, 8, 8), (1, 3, 8, 6))])
def test_images_of_the_wrong_rank_or_shapes_are_a_value_error(module, shapes, vgg_env):
    fake, real = (torch.zeros(shape) for shape in shapes)
    with pytest.raises(ValueError, match=rf"{module.__name__}: .*(4-D|same shape).*\("):
        module()(fake, real)


@pytest.mark.parametrize("module", [Sobel, Laplacian])
def test_non_tensor_images_are_a_type_error(module):
    with pytest.raises(TypeError, match=rf"{module.__name__}: real must be a torch.Tensor, got list"):
        module()(torch.zeros(1, 1, 3, 3), [[0.0]])


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


@pytest.fixture
def vgg_env(monkeypatch, vgg_weights):
    """``VGGPerceptual()`` finds the random weights through the environment variable."""
    monkeypatch.setenv("NECTARGAN_VGG19_WEIGHTS", str(vgg_weights))


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


def test_vgg_perceptual_missing_or_wrong_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"IMAGENET1K_V1.*No file at .*missing\.pth"):
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
    config = ConfigManager(reference_config({
        "train.loss.lambda_gan": 2.0, "train.loss.lambda_l2": 3.0,
        "train.loss.lambda_sobel": 4.0, "train.loss.lambda_laplacian": 5.0}))
    assert describe(pix2pix(config.data, "extended")) == {
        "G_GAN": ("BCEWithLogitsLoss", 2.0, ["G"]),
        "G_L1": ("L1Loss", 100.0, ["G"]),
        "D_real": ("BCEWithLogitsLoss", 1.0, ["D"]),
        "D_fake": ("BCEWithLogitsLoss", 1.0, ["D"]),
        "G_L2": ("MSELoss", 3.0, ["G"]),
        "G_SOBEL": ("Sobel", 4.0, ["G"]),
        "G_LAP": ("Laplacian", 5.0, ["G"]),
    }


@pytest.mark.parametrize(("subspec", "extra"), [
    ("basic+vgg", []), ("+vgg", []), ("extended+vgg", ["G_L2", "G_SOBEL", "G_LAP"])])
def test_pix2pix_vgg_with_a_reference_config(vgg_env, subspec, extra):
    config = ConfigManager(reference_config({"train.loss.lambda_vgg": 10.0})).data
    losses = pix2pix(config, subspec)
    assert list(losses) == ["G_GAN", "G_L1", "D_real", "D_fake", *extra, "G_VGG"]
    assert describe(losses)["G_VGG"] == ("VGGPerceptual", 10.0, ["G"])


def test_pix2pix_vgg_without_weights_says_where_to_put_them(monkeypatch, tmp_path):
    monkeypatch.delenv("NECTARGAN_VGG19_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    where = tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    with pytest.raises(FileNotFoundError, match=f"Put that file at {where}"):
        pix2pix(None, "basic+vgg")


@pytest.mark.parametrize("subspec", ["nope", "vgg", "Basic", ""])
def test_pix2pix_unknown_subspec_is_a_value_error(subspec):
    with pytest.raises(ValueError, match="Unknown pix2pix subspec"):
        pix2pix(None, subspec)


@pytest.mark.parametrize(("value", "error", "match"), [
    (None, ValueError, r"pix2pix reads config\.train\.loss\.lambda_l1, which this config lacks"),
    ("100", TypeError, r"config\.train\.loss\.lambda_l1 must be a number, got '100'"),
    (True, TypeError, r"lambda_l1 must be a number, got True")])
def test_pix2pix_bad_lambdas_are_clear_errors(tmp_path, value, error, match):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"config": reference_config({"train.loss.lambda_l1": value})}))
    with pytest.raises(error, match=match):
        pix2pix(ConfigManager(path).data)


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
