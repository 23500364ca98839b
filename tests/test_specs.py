"""Loss specs: the pix2pix spec's losses, weights, tags and errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nectargan_jax.losses import LossManager, bce_with_logits, l1, mse, pix2pix
from nectargan_jax.scheduling import Schedule

BASIC = ("G_GAN", "G_L1", "D_real", "D_fake")
EXTENDED = BASIC + ("G_L2", "G_SOBEL", "G_LAP")


def test_basic_spec_has_the_reference_losses_weights_and_tags():
    lm = LossManager().with_spec(pix2pix)
    assert lm.names == BASIC
    assert lm.loss_weights() == {"G_GAN": 1.0, "G_L1": 100.0, "D_real": 1.0, "D_fake": 1.0}
    assert list(lm.registered(["G"])) == ["G_GAN", "G_L1"]
    assert list(lm.registered(["D"])) == ["D_real", "D_fake"]
    entries = lm.registered()
    assert entries["G_GAN"].fn is bce_with_logits and entries["G_L1"].fn is l1


def test_extended_spec_adds_l2_sobel_laplacian_with_zero_default_weights():
    lm = LossManager().with_spec(pix2pix, "extended", lambda_l2=2.0)
    assert lm.names == EXTENDED
    assert lm.loss_weights(["G"]) == {"G_GAN": 1.0, "G_L1": 100.0, "G_L2": 2.0,
                                      "G_SOBEL": 0.0, "G_LAP": 0.0}
    assert lm.registered()["G_L2"].fn is mse


def test_lambdas_may_be_schedules():
    lm = LossManager().with_spec(pix2pix, lambda_l1=Schedule("linear", 100, 200, 100.0, 0.0))
    x, y = jnp.ones((1, 3, 4, 4)), jnp.zeros((1, 3, 4, 4))
    value, _ = lm.compute("G_L1", x, y, epoch=150)
    assert float(value) == pytest.approx(50.0)


def test_unknown_subspec_is_an_error():
    with pytest.raises(ValueError, match="subspec must be one of"):
        pix2pix("fancy")


def random_vgg_npz(path):
    """A torchvision-style VGG19 feature state dict with random weights, as .npz."""
    rng = np.random.default_rng(0)
    channels = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128),
                12: (256, 256), 14: (256, 256)}
    arrays = {}
    for i, (out_c, in_c) in channels.items():
        arrays[f"features.{i}.weight"] = rng.normal(0, 0.05, (out_c, in_c, 3, 3)).astype("f4")
        arrays[f"features.{i}.bias"] = np.zeros(out_c, "f4")
    np.savez(path, **arrays)
    return path


def test_vgg_subspecs_need_weights_and_then_compute_under_jit(tmp_path):
    with pytest.raises((ValueError, FileNotFoundError), match="VGG19 state-dict"):
        pix2pix("+vgg")
    weights = random_vgg_npz(tmp_path / "vgg19.npz")
    lm = LossManager().with_spec(pix2pix, "extended+vgg", lambda_vgg=2.0, vgg_weights=weights)
    assert lm.names == EXTENDED + ("G_VGG",)
    assert LossManager().with_spec(pix2pix, "+vgg", vgg_weights=weights).names == \
        BASIC + ("G_VGG",)
    x = jnp.ones((1, 3, 16, 16))
    step = jax.jit(lambda m, x, y: m.compute("G_VGG", x, y))
    same, lm = step(lm, x, x)
    different, lm = step(lm, x, jnp.zeros_like(x))
    assert float(same) == 0.0 and float(different) > 0.0
