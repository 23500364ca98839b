"""Loss specs: the pix2pix spec's losses, weights, tags, layouts and errors."""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import interop
from helpers import count_compilations
from nectargan_jax.manager import reporting
from nectargan_jax import LossManager
from nectargan_jax.losses import (
    ImageLoss, bce_with_logits, l1, laplacian, mse, pix2pix, sobel)
from nectargan_jax.scheduling import Schedule

BASIC = ("G_GAN", "G_L1", "D_real", "D_fake")
EXTENDED = BASIC + ("G_L2", "G_SOBEL", "G_LAP")


def test_basic_spec_has_the_reference_losses_weights_and_tags():
    lm = LossManager().with_spec(pix2pix)
    assert lm.names == BASIC
    assert reporting.loss_weights(lm) == {"G_GAN": 1.0, "G_L1": 100.0, "D_real": 1.0,
                                          "D_fake": 1.0}
    assert list(lm.registered(["G"])) == ["G_GAN", "G_L1"]
    assert list(lm.registered(["D"])) == ["D_real", "D_fake"]
    entries = lm.registered()
    assert entries["G_GAN"].fn is bce_with_logits and entries["G_L1"].fn is l1


def test_extended_spec_adds_l2_sobel_laplacian_with_zero_default_weights():
    lm = LossManager().with_spec(pix2pix, "extended", lambda_l2=2.0)
    assert lm.names == EXTENDED
    assert reporting.loss_weights(lm, ["G"]) == {"G_GAN": 1.0, "G_L1": 100.0, "G_L2": 2.0,
                                                 "G_SOBEL": 0.0, "G_LAP": 0.0}
    entries = lm.registered()
    assert entries["G_L2"].fn is mse
    assert entries["G_SOBEL"].fn == ImageLoss(sobel, "NHWC")
    assert entries["G_LAP"].fn == ImageLoss(laplacian, "NHWC")


def test_lambdas_may_be_schedules():
    lm = LossManager().with_spec(pix2pix, lambda_l1=Schedule("linear", 100, 200, 100.0, 0.0))
    x, y = jnp.ones((1, 4, 4, 3)), jnp.zeros((1, 4, 4, 3))
    value, _ = lm.compute("G_L1", x, y, epoch=150)
    assert float(value) == pytest.approx(50.0)


def test_unknown_subspec_is_an_error():
    with pytest.raises(ValueError, match="subspec must be one of"):
        pix2pix("fancy")


def test_unknown_layout_is_an_error():
    with pytest.raises(ValueError, match=r"layout must be one of \('NHWC', 'NCHW'\), "
                                         r"got layout='CHW'"):
        pix2pix("extended", layout="CHW")


_LAMBDA = {"G_SOBEL": "lambda_sobel", "G_LAP": "lambda_laplacian"}


def _issue_batch():
    """The issue's NHWC generator batch (4, 64, 64, 3) and a target, as NumPy arrays."""
    rng = np.random.default_rng(0)
    return (rng.uniform(size=(4, 64, 64, 3)).astype(np.float32),
            rng.uniform(size=(4, 64, 64, 3)).astype(np.float32))


@pytest.mark.parametrize(("name", "torch_module"),
                         [("G_SOBEL", interop.Sobel()), ("G_LAP", interop.Laplacian())])
def test_nhwc_batch_gives_torch_numbers_by_default_and_raises_as_nchw(name, torch_module):
    # Before layouts existed, this NHWC batch went through the (then NCHW) spec as 64
    # channels of 64x3 images and G_SOBEL returned a number (27.13 in the issue).
    fake, real = _issue_batch()
    expected = torch_module(torch.tensor(fake).permute(0, 3, 1, 2),
                            torch.tensor(real).permute(0, 3, 1, 2)).item()
    nhwc = LossManager().with_spec(pix2pix, "extended", **{_LAMBDA[name]: 2.0})
    value, _ = nhwc.compute(name, fake, real)
    assert float(value) == pytest.approx(2.0 * expected, rel=1e-5)
    nchw = LossManager().with_spec(pix2pix, "extended", layout="NCHW", **{_LAMBDA[name]: 2.0})
    with pytest.raises(ValueError, match=r"x\.shape=\(4, 64, 64, 3\) cannot be an NCHW image "
                                         r"batch.*Did you mean layout='NHWC'\?"):
        nchw.compute(name, fake, real)
    value, _ = nchw.compute(name, np.moveaxis(fake, 3, 1), np.moveaxis(real, 3, 1))
    assert float(value) == pytest.approx(2.0 * expected, rel=1e-5)
    with pytest.raises(ValueError, match=r"x\.shape=\(4, 3, 64, 64\) cannot be an NHWC image "
                                         r"batch.*Did you mean layout='NCHW'\?"):
        nhwc.compute(name, np.moveaxis(fake, 3, 1), np.moveaxis(real, 3, 1))


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_independent_specs_have_equal_hashable_functions(layout):
    first, second = pix2pix("extended", layout=layout), pix2pix("extended", layout=layout)
    for name in first:
        a, b = first[name].fn, second[name].fn
        assert a == b and hash(a) == hash(b), name
        assert pickle.loads(pickle.dumps(a)) == a, name
    other = pix2pix("extended", layout="NCHW" if layout == "NHWC" else "NHWC")
    assert first["G_SOBEL"].fn != other["G_SOBEL"].fn
    assert first["G_LAP"].fn != other["G_LAP"].fn


def test_managers_built_from_independent_specs_compile_once(tmp_path):
    # The loss functions are static data of the manager: equal across builds, so a jitted
    # step compiles once per structure, also for the VGG module (its graphdef is static).
    weights = random_vgg_npz(tmp_path / "vgg19.npz")

    def sobel_step(m, x, y):
        return m.compute("G_SOBEL", x, y)

    def vgg_step(m, x, y):
        return m.compute("G_VGG", x, y)

    jitted_sobel, jitted_vgg = jax.jit(sobel_step), jax.jit(vgg_step)
    x, y = jnp.ones((1, 16, 16, 3)), jnp.zeros((1, 16, 16, 3))
    with count_compilations() as log:
        for _ in range(2):
            jitted_sobel(LossManager().with_spec(pix2pix, "extended", lambda_sobel=1.0), x, y)
            jitted_vgg(LossManager().with_spec(pix2pix, "extended+vgg", vgg_weights=weights,
                                               lambda_vgg=1.0), x, y)
    assert (log.count("sobel_step"), log.count("vgg_step")) == (1, 1)


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
    x = jnp.ones((1, 16, 16, 3))
    step = jax.jit(lambda m, x, y: m.compute("G_VGG", x, y))
    same, lm = step(lm, x, x)
    different, lm = step(lm, x, jnp.zeros_like(x))
    assert float(same) == 0.0 and float(different) > 0.0
    nchw = LossManager().with_spec(pix2pix, "+vgg", vgg_weights=weights, layout="NCHW")
    assert nchw.registered()["G_VGG"].function.layout == "NCHW"
    with pytest.raises(ValueError, match=r"cannot be an NCHW image batch"):
        nchw.compute("G_VGG", x, x)
