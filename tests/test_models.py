"""The Flax pix2pix models: the reference's layout, parameter counts, init, modes, errors.

Parity of outputs with the reference (through its PyTorch twin and converted weights) is
in ``test_torch_weights.py``.
"""

import json
from pathlib import Path
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from nectargan_jax._xla_flags import jaxlib_checked
from nectargan_jax.configs import load_default_config
from nectargan_jax.models import PatchGANDiscriminator
from nectargan_jax.models import UnetGenerator
from nectargan_jax.models import build_models
from nectargan_jax.models import select_conv_impl
from nectargan_jax.models import _cpu_conv
from nectargan_jax.models._cpu_conv import FEW_OUTPUTS, PARITIES_AS_ONE
from nectargan_jax.models._cpu_conv import conv_method
from nectargan_jax.models._layers import InstanceNorm
from nectargan_jax.models._layers import ReflectConv
from nectargan_jax.models._layers import StridedConv1x1
from nectargan_jax.models._layers import TransposedConv4x4
from nectargan_jax.models._layers import ZeroInterleave1x1
from nectargan_jax.train import load_config

REFERENCE_COUNTS = json.loads(
    (Path(__file__).parent / "fixtures" / "reference_counts.json").read_text())


def n_params(module):
    return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def abstract(build):
    """The model ``build()`` makes, with shapes only (no initialisation is computed)."""
    return nnx.eval_shape(build)


def out_shape(model, shape):
    """The output shape of ``model`` on an input of ``shape``, traced without computing."""
    return nnx.eval_shape(lambda m, x: m(x), model, jax.ShapeDtypeStruct(shape, jnp.float32)).shape


def rngs(seed=0, dropout=None):
    """Keys of the 'rbg' implementation: far cheaper to compile on a CPU than threefry's."""
    streams = {"params": jax.random.key(seed, impl="rbg")}
    if dropout is not None:
        streams["dropout"] = jax.random.key(dropout, impl="rbg")
    return nnx.Rngs(**streams)


# One jitted forward for every test (recompiles only for a new structure or shape).
forward = nnx.jit(lambda model, x: model(x))


@pytest.fixture(scope="module")
def small_generator():
    """features=4, n_downs=2, instance norm, no dropout: built once, cloned by each test."""
    return UnetGenerator(3, 3, features=4, n_downs=2, n_dropout=0, rngs=rngs(0))


def images(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


# Parameters counted by hand: a k x k conv from i to o channels has k*k*i*o weights (+ o
# biases); instance norm has none. features=4, n_downs=2, 3 -> 3 channels, deepest 16:
#   initial_down 4*4*3*4 + 4 = 196     downs 4*4*4*8 = 512, 4*4*8*16 = 2048
#   bottleneck 4*4*16*16 + 16 = 4112   ups 16->16: 4096, 32->8: 4096, 16->4: 1024
#   final_up 4*4*8*3 + 3 = 387         total 16471
UNET_SMALL = 16471
# BatchNorm (the extension): 2 per channel of every normalised block: 2*(8+16+16+8+4).
UNET_SMALL_BATCH = UNET_SMALL + 104
# Residual shortcuts (1x1 with bias) on every block but ups[0] (16 -> 16: the identity):
# 3*4+4, 4*8+8, 8*16+16, 16*16+16, 32*8+8, 16*4+4, 8*3+3.
UNET_SMALL_RESIDUAL_EXTRA = 16 + 40 + 144 + 272 + 264 + 68 + 27
# Bilinear: each up conv becomes a 3x3 conv, with a bias in every block (PyTorch's default).
UNET_SMALL_BILINEAR = UNET_SMALL - (4096 + 4096 + 1024 + 387) + (
    9 * 16 * 16 + 16 + 9 * 32 * 8 + 8 + 9 * 16 * 4 + 4 + 9 * 8 * 3 + 3)
# PatchGAN, 6 channels in, base 4, max 8, n_layers 3: first 4*4*6*4 + 4 = 388,
# 4->8 s2: 4*4*4*8 = 512, 8->8 s1: 4*4*8*8 = 1024, last 4*4*8*1 + 1 = 129.
PATCHGAN_SMALL = 388 + 512 + 1024 + 129


@pytest.mark.parametrize("block_type, upsample_type, norm, expected", [
    ("UnetBlock", "Transposed", "instance", UNET_SMALL),
    ("UnetBlock", "Transposed", "batch", UNET_SMALL_BATCH),
    ("ResidualUnetBlock", "Transposed", "instance", UNET_SMALL + UNET_SMALL_RESIDUAL_EXTRA),
    ("UnetBlock", "Bilinear", "instance", UNET_SMALL_BILINEAR),
])
def test_generator_parameter_count_by_hand(block_type, upsample_type, norm, expected):
    g = abstract(lambda: UnetGenerator(3, 3, features=4, n_downs=2, block_type=block_type,
                                       upsample_type=upsample_type, norm=norm,
                                       rngs=nnx.Rngs(0)))
    assert n_params(g) == expected
    assert out_shape(g, (2, 16, 16, 3)) == (2, 16, 16, 3)


def test_discriminator_parameter_count_by_hand():
    d = abstract(lambda: PatchGANDiscriminator(6, n_layers=3, base_channels=4, max_channels=8,
                                               rngs=nnx.Rngs(0)))
    assert n_params(d) == PATCHGAN_SMALL


@pytest.mark.parametrize("case", sorted(REFERENCE_COUNTS))
def test_parameter_counts_equal_the_references(case):
    """The reference's own models, built from the same config (``fixtures/``), have these
    counts: 54,404,675 and 665,665 for its default config."""
    config = load_config(overrides=REFERENCE_COUNTS[case]["overrides"]).to_dict()
    g, d = abstract(lambda: build_models(config, nnx.Rngs(0)))
    assert {"generator": n_params(g), "discriminator": n_params(d)} == \
        REFERENCE_COUNTS[case]["parameters"]
    side = config["dataloader"]["load"]["crop_size"]
    channels = config["dataloader"]["load"]["input_nc"]
    assert out_shape(g, (1, side, side, channels)) == (1, side, side, channels)


def test_the_default_configs_counts_are_the_issues_figures():
    assert REFERENCE_COUNTS["default"]["parameters"] == {"generator": 54_404_675,
                                                         "discriminator": 665_665}


def test_channel_map_of_the_reference():
    """Downs double up to 8f; the bottleneck and ups[0] keep 8f; ups mirror the downs."""
    g = abstract(lambda: UnetGenerator(3, 3, features=2, n_downs=5, rngs=nnx.Rngs(0)))
    assert [d.conv.conv.kernel.shape[2:] for d in g.downs] == [
        (2, 4), (4, 8), (8, 16), (16, 16), (16, 16)]
    assert g.bottleneck.conv.conv.kernel.shape == (4, 4, 16, 16)
    assert [u.conv.conv.kernel.shape[2:] for u in g.ups] == [
        (16, 16), (32, 16), (32, 16), (32, 8), (16, 4), (8, 2)]
    assert g.final_up.conv.conv.kernel.shape[2:] == (4, 3)


def test_dropout_follows_the_three_deepest_up_blocks():
    g = abstract(lambda: UnetGenerator(3, 3, features=2, n_downs=4, rngs=nnx.Rngs(0)))
    assert [u.dropout is not None for u in g.ups] == [True, True, True, False, False]
    assert all(b.dropout is None for b in [g.initial_down, *g.downs, g.bottleneck, g.final_up])


def test_instance_norm_keeps_no_state():
    """Instance norm has no parameters and no running statistics: the discriminator's whole
    state is its parameters, the generator's the parameters and its dropout stream."""
    g = abstract(lambda: UnetGenerator(3, 3, features=4, n_downs=2, rngs=rngs(0, dropout=1)))
    d = abstract(lambda: PatchGANDiscriminator(6, base_channels=4, max_channels=8,
                                               rngs=rngs(0)))
    assert nnx.state(d, nnx.Not(nnx.Param)) == nnx.State({})
    rest = nnx.state(g, nnx.Not(nnx.Param))
    assert {type(v).__name__ for _, v in nnx.to_flat_state(rest)} == {"RngKey", "RngCount"}


def test_skip_connection_carries_the_input_past_the_bottleneck(small_generator):
    """With the bottleneck's output zeroed, the output still depends on the input."""
    g = nnx.clone(small_generator)
    conv = g.bottleneck.conv.conv
    conv.kernel[...] = jnp.zeros_like(conv.kernel[...])
    conv.bias[...] = jnp.zeros_like(conv.bias[...])
    a = forward(g, jnp.asarray(images((1, 16, 16, 3), 1)))
    b = forward(g, jnp.asarray(images((1, 16, 16, 3), 2)))
    assert float(jnp.abs(a - b).max()) > 1e-4


def test_output_is_tanh_bounded(small_generator):
    g = nnx.clone(small_generator)
    for layer in (g.initial_down.conv.conv, g.final_up.conv.conv):  # saturate tanh
        layer.kernel[...] = layer.kernel[...] * 500
    out = forward(g, jnp.asarray(images((1, 16, 16, 3))))
    assert float(jnp.abs(out).max()) <= 1.0 and float(jnp.abs(out).max()) > 0.99


def test_dropout_is_active_in_train_mode_and_deterministic_given_the_rngs():
    x = jnp.asarray(images((1, 16, 16, 3)))
    first = UnetGenerator(3, 3, features=4, n_downs=2, rngs=rngs(0, dropout=7))
    twin = nnx.clone(first)  # the same parameters and dropout-stream state
    a1, a2 = forward(first, x), forward(first, x)
    assert float(jnp.abs(a1 - a2).max()) > 1e-6  # the dropout stream advanced
    np.testing.assert_array_equal(np.asarray(forward(twin, x)), np.asarray(a1))
    np.testing.assert_array_equal(np.asarray(forward(twin, x)), np.asarray(a2))
    first.eval()
    np.testing.assert_array_equal(np.asarray(forward(first, x)), np.asarray(forward(first, x)))


def test_batch_norm_extension_uses_and_freezes_the_running_statistics():
    g = UnetGenerator(3, 3, features=4, n_downs=2, norm="batch", n_dropout=0, rngs=rngs(0))
    x = jnp.asarray(images((2, 16, 16, 3)))
    forward(g, x)
    mean = np.asarray(g.downs[0].norm.mean[...])
    assert np.abs(mean).max() > 0  # the training-mode call moved the running mean
    g.eval()
    a = forward(g, x)
    np.testing.assert_array_equal(np.asarray(g.downs[0].norm.mean[...]), mean)
    g.train()
    assert float(jnp.abs(forward(g, x) - a).max()) > 1e-6  # batch statistics again


def test_batch_of_one_trains_under_jit(small_generator):
    g = nnx.clone(small_generator)

    @nnx.jit
    def loss_and_grad(model, x):
        return nnx.value_and_grad(lambda m: jnp.mean(jnp.abs(m(x) - x)))(model)

    loss, grads = loss_and_grad(g, jnp.asarray(images((1, 16, 16, 3))))
    assert np.isfinite(float(loss))
    assert all(np.all(np.isfinite(np.asarray(v))) for v in jax.tree.leaves(grads))


def test_build_models_reads_the_config_keys():
    config = load_default_config()
    config["dataloader"]["load"]["input_nc"] = 1
    config["train"]["generator"].update(features=4, n_downs=2, block_type="ResidualUnetBlock",
                                        upsample_type="Bilinear")
    config["train"]["discriminator"].update(n_layers=2, base_channels=3, max_channels=5)
    g, d = abstract(lambda: build_models(config, nnx.Rngs(0)))
    assert out_shape(g, (1, 16, 16, 1)) == (1, 16, 16, 1)
    assert g.downs[0].shortcut is not None and g.ups[0].conv.upsample_type == "Bilinear"
    assert g.downs[0].norm.__class__ is InstanceNorm
    # n_layers=2: first conv 2*1 -> 3 (4*4*2*3 + 3), one s1 block 3 -> 5 (4*4*3*5),
    # last 5 -> 1 (4*4*5 + 1).
    assert n_params(d) == (96 + 3) + 240 + (80 + 1)
    assert out_shape(d, (1, 16, 16, 2)) == (1, 6, 6, 1)
    config["train"]["generator"]["norm"] = "batch"
    g, d = abstract(lambda: build_models(config, nnx.Rngs(0)))
    assert g.downs[0].norm.__class__ is nnx.BatchNorm
    assert d.blocks[0].norm.__class__ is InstanceNorm


@pytest.mark.parametrize("shape, message", [
    ((1, 3, 16, 16), r"NHWC batch \(N, H, W, 3\), got shape \(1, 3, 16, 16\)"),
    ((16, 16, 3), r"got shape \(16, 16, 3\)"),
    ((1, 24, 16, 3), r"multiples of 16 \(at least 16\), got \(H, W\)=\(24, 16\)"),
    ((1, 8, 8, 3), r"multiples of 16 \(at least 16\), got \(H, W\)=\(8, 8\)"),
])
def test_generator_rejects_shapes_that_are_not_its_layout(shape, message):
    g = abstract(lambda: UnetGenerator(3, 3, features=4, n_downs=2, rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match=message):
        out_shape(g, shape)


def test_residual_generator_takes_only_its_bottlenecks_size():
    """The identity shortcut of ups[0] adds a 1x1 input to a 2x2 output: larger inputs
    fail in the reference (PyTorch cannot broadcast 2x2 onto 4x4); here a clear error."""
    g = abstract(lambda: UnetGenerator(3, 3, features=4, n_downs=2,
                                       block_type="ResidualUnetBlock", rngs=nnx.Rngs(0)))
    assert g.ups[0].identity_shortcut and not g.ups[1].identity_shortcut
    assert out_shape(g, (1, 16, 16, 3)) == (1, 16, 16, 3)
    with pytest.raises(ValueError, match=r"ResidualUnetBlock and n_downs=2 takes 16x16 images"
                                         r".*got \(H, W\)=\(32, 32\)"):
        out_shape(g, (1, 32, 32, 3))


def test_discriminator_rejects_bad_shapes():
    d = abstract(lambda: PatchGANDiscriminator(6, base_channels=2, max_channels=4,
                                               rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match=r"\(N, H, W, 6\), got shape \(1, 6, 32, 32\)"):
        out_shape(d, (1, 6, 32, 32))
    with pytest.raises(ValueError, match="too deep for an input of spatial size 4"):
        out_shape(d, (1, 4, 4, 6))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"block_type": "Dense"}, ValueError, "block_type must be one of .*'Dense'"),
    ({"upsample_type": "nearest"}, ValueError, "upsample_type must be one of .*'nearest'"),
    ({"norm": "layer"}, ValueError, "norm must be one of .*'layer'"),
    ({"n_downs": 0}, ValueError, "n_downs must be >= 1, got n_downs=0"),
    ({"features": 4.0}, TypeError, "features must be an int, got float: 4.0"),
    ({"conv_impl": "gpu"}, ValueError, r"conv_impl must be one of \('auto', 'xla', 'cpu'\), "
                                       "got 'gpu'"),
])
def test_generator_rejects_bad_arguments(kwargs, error, message):
    arguments = {"features": 4, "n_downs": 2} | kwargs
    with pytest.raises(error, match=message):
        abstract(lambda: UnetGenerator(3, 3, rngs=nnx.Rngs(0), **arguments))


def flat_params(model):
    return {tuple(str(k) for k in path): np.asarray(v[...])
            for path, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}


def test_generator_initialisation_is_the_references():
    """The reference's ``init_weights``: every conv and transposed conv kernel (shortcuts
    included) from N(0, 0.02), every bias 0."""
    g = nnx.jit(lambda: UnetGenerator(3, 3, features=8, n_downs=2,
                                      block_type="ResidualUnetBlock", upsample_type="Bilinear",
                                      rngs=rngs(0, dropout=1)))()
    flat = flat_params(g)
    kernels = np.concatenate([v.ravel() for k, v in flat.items() if k[-1] == "kernel"])
    assert any("shortcut" in k for k in flat)
    assert kernels.size > 30000 and abs(kernels.std() - 0.02) < 0.0005
    assert abs(kernels.mean()) < 0.0005
    np.testing.assert_array_equal(
        np.concatenate([v.ravel() for k, v in flat.items() if k[-1] == "bias"]), 0.0)


def test_discriminator_initialisation_is_pytorchs_default():
    """The reference leaves its discriminator at ``nn.Conv2d``'s default: kernel and bias
    from U(-b, b), ``b = 1 / sqrt(fan_in)``, the same as torch draws (compared by bounds
    and spread with torch's own layer)."""
    d = nnx.jit(lambda: PatchGANDiscriminator(6, n_layers=3, base_channels=16, max_channels=32,
                                              rngs=rngs(0)))()
    layers = {"first": (d.first.conv, 6), "blocks.0": (d.blocks[0].conv.conv, 16),
              "blocks.1": (d.blocks[1].conv.conv, 32), "last": (d.last.conv, 32)}
    for name, (conv, cin) in layers.items():
        cout = conv.kernel.shape[-1]
        theirs = torch.nn.Conv2d(cin, cout, 4)
        bound = 1 / np.sqrt(16 * cin)
        for ours, torch_values in ((conv.kernel, theirs.weight), (conv.bias, theirs.bias)):
            if ours is None:
                continue
            values = np.asarray(ours[...])
            assert np.abs(values).max() <= bound, name
            assert float(torch_values.detach().abs().max()) <= bound
            if values.size > 1000:
                assert abs(values.std() - bound / np.sqrt(3)) < 0.05 * bound, name
                assert abs(values.std() - float(torch_values.detach().std())) < 0.05 * bound


@pytest.mark.parametrize("conv_impl", ["xla", "cpu"])
def test_transposed_convolutions_match_flax_conv_transpose(conv_impl):
    """The transposed-convolution layers give what ``nnx.ConvTranspose`` gives with the
    kernel, and the same gradients (input and kernel), in both forms."""
    x = jnp.asarray(images((2, 5, 7, 3)))
    # Below and above FEW_OUTPUTS; above it, 5x7 and 9x8 pixels per parity (four
    # convolutions) and 32x33 (PARITIES_AS_ONE: one): every way of computing it.
    assert 9 * 8 < PARITIES_AS_ONE <= 32 * 33
    for out, inputs in [(4, x), (9, x), (9, jnp.asarray(images((2, 9, 8, 3)))),
                        (9, jnp.asarray(images((1, 32, 33, 3))))]:
        assert (out < FEW_OUTPUTS) == (out == 4)
        ours = TransposedConv4x4(3, out, use_bias=True, rngs=rngs(0), conv_impl=conv_impl)
        reference = nnx.ConvTranspose(3, out, (4, 4), (2, 2), padding=((2, 2), (2, 2)),
                                      rngs=rngs(1))
        ours.bias[...] = jnp.arange(float(out))
        reference.kernel[...] = ours.kernel[...]
        reference.bias[...] = ours.bias[...]
        np.testing.assert_allclose(np.asarray(ours(inputs)), np.asarray(reference(inputs)),
                                   rtol=1e-5, atol=1e-6)
        w = jnp.asarray(images(reference(inputs).shape, seed=4))
        (ours_grad, ours_dx), (ref_grad, ref_dx) = [
            nnx.grad(lambda m, x: jnp.sum(m(x) * w), argnums=(0, 1))(m, inputs)
            for m in (ours, reference)]
        np.testing.assert_allclose(np.asarray(ours_dx), np.asarray(ref_dx), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(ours_grad.kernel[...]),
                                   np.asarray(ref_grad.kernel[...]), rtol=1e-4, atol=1e-4)
    ours = ZeroInterleave1x1(3, 4, rngs=rngs(0), conv_impl=conv_impl)
    reference = nnx.ConvTranspose(3, 4, (1, 1), (2, 2), padding=((0, 1), (0, 1)), rngs=rngs(1))
    ours.bias[...] = jnp.arange(4.0)
    reference.kernel[...] = ours.kernel[...]
    reference.bias[...] = ours.bias[...]
    got = ours(x)
    assert got.shape == (2, 10, 14, 4)
    np.testing.assert_allclose(np.asarray(got), np.asarray(reference(x)), rtol=1e-5, atol=1e-6)


def _check_against_torch(ours, kernel, bias, theirs, x):
    """``ours`` (a layer holding ``kernel`` and ``bias`` as Params) against the torch layer
    ``theirs`` given the same weights: the output and the gradients of ``sum(y * w)`` for a
    fixed ``w`` with respect to the input, the kernel and the bias."""
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(np.array(kernel[...]).transpose(3, 2, 0, 1)))
        theirs.bias.copy_(torch.from_numpy(np.array(bias[...])))
    y = ours(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(y), nhwc(theirs(nchw(x))), rtol=1e-4, atol=1e-6)
    w = images(y.shape, seed=3)
    grads, grad_x = nnx.grad(lambda m, x: jnp.sum(m(x) * w), argnums=(0, 1))(
        ours, jnp.asarray(x))
    x_t = nchw(x).requires_grad_()
    (theirs(x_t) * nchw(w)).sum().backward()
    np.testing.assert_allclose(np.asarray(grad_x), nhwc(x_t.grad), rtol=1e-4, atol=1e-5)
    grads = dict(nnx.to_flat_state(grads))
    (kernel_grad,) = [v for k, v in grads.items() if k[-1] == "kernel"]
    (bias_grad,) = [v for k, v in grads.items() if k[-1] == "bias"]
    np.testing.assert_allclose(np.asarray(kernel_grad[...]),
                               theirs.weight.grad.numpy().transpose(2, 3, 1, 0),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(bias_grad[...]), theirs.bias.grad.numpy(),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("conv_impl", ["xla", "cpu"])
def test_instance_norm_is_torchs_forward_and_backward(conv_impl):
    """Values and input gradients of ``nn.InstanceNorm2d``'s defaults, on a batch whose
    images and channels have different means and spreads, with either form's sums."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2, 5, 7, 3)) * [1.0, 4.0, 0.1] + [0.0, 3.0, -2.0]
         ).astype(np.float32)
    weights = rng.standard_normal(x.shape).astype(np.float32)
    ours, grad = jax.value_and_grad(
        lambda v: jnp.sum(InstanceNorm(conv_impl)(v) * weights))(jnp.asarray(x))
    theirs_x = nchw(x).requires_grad_()
    theirs = torch.sum(torch.nn.InstanceNorm2d(3)(theirs_x) * nchw(weights))
    theirs.backward()
    np.testing.assert_allclose(float(ours), theirs.item(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(grad, theirs_x.grad.numpy().transpose(0, 2, 3, 1),
                               rtol=1e-4, atol=1e-5)


# Compiles a PatchGAN block (4x4 stride-1 convolution, instance norm, LeakyReLU) at
# batch 16 under the training command's XLA flags and counts the convolutions XLA's CPU
# backend placed inside YNNPACK fusions.
CONV_IN_YNN_PROBE = r"""
import json, re
from nectargan_jax._xla_flags import apply_cpu_flags
apply_cpu_flags()
import jax, jax.numpy as jnp
from flax import nnx
from nectargan_jax.models import _cpu_conv
from nectargan_jax.models._patchgan import PatchBlock
_cpu_conv.WINOGRAD_PIXELS = 10**9  # one convolution, the form a YNNPACK fusion can take
graph, params = nnx.split(PatchBlock(128, 256, 1, norm="instance", rngs=nnx.Rngs(0),
                                     conv_impl="cpu"))
block = jax.jit(lambda x, p: nnx.merge(graph, p)(x))
hlo = block.lower(jax.ShapeDtypeStruct((16, 64, 64, 128), jnp.float32),
                  params).compile().as_text()
ynn = set(re.findall(r'calls=%([\w.]+)[^\n]*"kind":"__ynn_fusion"', hlo))
bodies = re.findall(r"^%([\w.]+) \([^\n]*\{\n(.*?)\n\}", hlo, re.S | re.M)
print(json.dumps({"convolutions": hlo.count(" convolution("),
                  "in_ynn": sum(b.count(" convolution(") for n, b in bodies if n in ynn)}))
"""


@pytest.mark.skipif(jax.default_backend() != "cpu" or not jaxlib_checked(),
                    reason="XLA:CPU's YNNPACK fusions, under the command's flag")
def test_instance_norm_keeps_the_convolution_before_it_out_of_ynnpack():
    """A plain sum of the convolution's output made XLA:CPU give the convolution to
    YNNPACK with the sum, 1.4x slower for the PatchGAN at batch 16; the 'cpu' form's
    sums are products, which leave it to XLA (the command's flag). The probe keeps the
    layer as one convolution (at this size it would run as ``conv_winograd``'s 36, whose
    output transform stands between them and the sums): with a plain sum it counts 1
    in YNNPACK."""
    out = subprocess.run([sys.executable, "-c", CONV_IN_YNN_PROBE], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"convolutions": 1, "in_ynn": 0}


@pytest.mark.parametrize("conv_impl", ["xla", "cpu"])
@pytest.mark.parametrize("out, ksize, stride, size, method", [
    (1, 4, 1, (9, 6), "few_outputs"), (7, 4, 1, (9, 6), "few_outputs"),
    (8, 4, 1, (9, 6), "matmul"),  # 8x5 output pixels
    (8, 4, 1, (13, 11), "canonical"),  # 12x10
    (1, 4, 2, (9, 6), "matmul"),  # 4x3
    (3, 4, 2, (20, 18), "space_to_depth"), (3, 4, 2, (21, 19), "space_to_depth"),  # 10x9
    (3, 3, 2, (20, 18), "canonical")])
def test_reflect_conv_matches_pytorch_every_way_it_is_computed(out, ksize, stride, size,
                                                               method, conv_impl):
    """'xla': ``lax``'s convolution. 'cpu': few output channels at stride 1 use
    ``conv_few_outputs``, few output pixels ``conv_as_matmul``, strides that divide the
    kernel ``conv_space_to_depth`` (odd padded sizes too), the rest ``conv_nhwc``.
    Either way, forward and both gradients match PyTorch."""
    ours = ReflectConv(5, out, ksize, stride, 1, use_bias=True, rngs=rngs(2),
                       conv_impl=conv_impl)
    ours.conv.bias[...] = jnp.linspace(-1, 1, out)
    assert conv_method((2, size[0] + 2, size[1] + 2, 5), (ksize, ksize, 5, out),
                       stride) == method
    theirs = torch.nn.Conv2d(5, out, ksize, stride, 1, padding_mode="reflect")
    _check_against_torch(ours, ours.conv.kernel, ours.conv.bias, theirs,
                         images((2, *size, 5)))


@pytest.mark.parametrize("conv_impl", ["xla", "cpu"])
@pytest.mark.parametrize("size", [(9, 7), (20, 18)])  # 5x4 and 10x9 output pixels
def test_strided_shortcut_matches_pytorch(size, conv_impl):
    """The residual blocks' down shortcut is ``nn.Conv2d(kernel_size=1, stride=2)``."""
    ours = StridedConv1x1(5, 6, rngs=rngs(2), conv_impl=conv_impl)
    ours.bias[...] = jnp.linspace(-1, 1, 6)
    assert conv_method((2, *size, 5), (1, 1, 5, 6), 2) == "matmul"
    _check_against_torch(ours, ours.kernel, ours.bias, torch.nn.Conv2d(5, 6, 1, 2),
                         images((2, *size, 5)))


@pytest.mark.parametrize("conv_impl, platform, expected", [
    ("auto", "cpu", "cpu"), ("auto", "gpu", "xla"), ("auto", "tpu", "xla"),
    ("xla", "cpu", "xla"), ("cpu", "gpu", "cpu"), ("cpu", "cpu", "cpu")])
def test_conv_impl_selection_by_platform(conv_impl, platform, expected):
    """'auto' takes the CPU forms on a CPU backend only; 'xla' and 'cpu' force one."""
    assert select_conv_impl(conv_impl, platform) == expected


def test_conv_impl_selection_refuses_unknown_values():
    for bad in ("gpu", "XLA", None):
        with pytest.raises(ValueError, match=rf"conv_impl must be one of .*got {bad!r}"):
            select_conv_impl(bad, "cpu")


def _conv_impls(model):
    """The ``conv_impl`` of the model and of each of its layers, and how many kernels
    (convolutions) it has."""
    nodes = [node for _, node in nnx.iter_graph(model)]
    impls = [n.conv_impl for n in nodes if isinstance(n, nnx.Module) and hasattr(n, "conv_impl")]
    kernels = sum(1 for path, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))
                  if path[-1] == "kernel")
    return impls, kernels


@pytest.mark.parametrize("platform, expected", [("cpu", "cpu"), ("gpu", "xla"), ("tpu", "xla")])
def test_auto_takes_the_default_backends_forms_at_construction(platform, expected,
                                                                monkeypatch):
    """Every convolving layer (the residual shortcuts too) and every instance norm
    resolves 'auto' for the backend the model is built on (``jax.default_backend``,
    patched)."""
    monkeypatch.setattr(jax, "default_backend", lambda: platform)
    g = abstract(lambda: UnetGenerator(3, 3, features=4, n_downs=2,
                                       block_type="ResidualUnetBlock", rngs=nnx.Rngs(0)))
    d = abstract(lambda: PatchGANDiscriminator(6, base_channels=4, max_channels=8,
                                               rngs=nnx.Rngs(0)))
    impls, kernels = _conv_impls(g)
    # 8 main convolutions (initial_down, 2 downs, bottleneck, 3 ups, final_up) and
    # 7 shortcuts (ups[0]'s is the identity); the model itself holds one too, and so do
    # its 5 instance norms.
    assert kernels == 15 and impls == [expected] * (16 + 5)
    impls, kernels = _conv_impls(d)
    assert kernels == 4 and impls == [expected] * (5 + 2)  # the 2 blocks' norms


# name -> (build(conv_impl, seed), input shape): every kind of layer in both forms.
MODELS = {
    "unet transposed": (lambda impl, seed: UnetGenerator(
        3, 3, features=4, n_downs=2, n_dropout=0, rngs=rngs(seed), conv_impl=impl),
        (2, 32, 16, 3)),
    "unet residual": (lambda impl, seed: UnetGenerator(
        3, 3, features=4, n_downs=2, n_dropout=0, block_type="ResidualUnetBlock",
        rngs=rngs(seed), conv_impl=impl), (2, 16, 16, 3)),
    "unet residual bilinear": (lambda impl, seed: UnetGenerator(
        3, 3, features=4, n_downs=2, n_dropout=0, block_type="ResidualUnetBlock",
        upsample_type="Bilinear", rngs=rngs(seed), conv_impl=impl), (2, 16, 16, 3)),
    "patchgan": (lambda impl, seed: PatchGANDiscriminator(
        6, n_layers=3, base_channels=4, max_channels=16, rngs=rngs(seed), conv_impl=impl),
        (2, 32, 32, 6)),
    # Its stride-1 block (64 -> 64 channels on 63x63 pixels) runs as conv_winograd.
    "patchgan winograd": (lambda impl, seed: PatchGANDiscriminator(
        6, n_layers=2, base_channels=64, max_channels=64, rngs=rngs(seed), conv_impl=impl),
        (1, 128, 128, 6)),
}


@nnx.jit
def _output_and_grads(model, x, w):
    """The output for ``x`` and the gradients of ``sum(output * w)`` (parameters, input)."""
    def objective(m, x):
        y = m(x)
        return jnp.sum(y * w), y

    (grads, dx), y = nnx.grad(objective, argnums=(0, 1), has_aux=True)(model, x)
    return y, grads, dx


@pytest.mark.parametrize("name", sorted(MODELS))
def test_both_forms_compute_the_same_model_from_the_same_weights(name):
    """'cpu' and 'xla' models hold the same parameter tree, drawn alike from a seed, and
    either takes the other's weights: then the outputs and every gradient agree."""
    _check_both_forms(*MODELS[name])


def test_both_forms_agree_where_every_2x2_convolution_runs_as_winograd(monkeypatch):
    """With ``conv_winograd``'s thresholds at 1, the U-Net's strided convolutions (over
    2x2 pixel blocks) and transposed ones (their output-pixel parities) run their 2x2
    convolutions as Winograd's F(3x3, 2x2), as the default config's larger layers do at
    batch 16; the model is still the 'xla' one."""
    def build(impl, seed):
        return UnetGenerator(3, 3, features=8, n_downs=2, n_dropout=0, rngs=rngs(seed),
                             conv_impl=impl)

    def convolutions(model):
        jaxpr = jax.make_jaxpr(lambda x: model(x))(jnp.zeros(shape))
        return str(jaxpr).count("conv_general_dilated")

    shape = (2, 64, 64, 3)
    direct = convolutions(build("cpu", 0))
    monkeypatch.setattr(_cpu_conv, "WINOGRAD_PIXELS", 1)
    monkeypatch.setattr(_cpu_conv, "WINOGRAD_WIDTH", 1)
    assert convolutions(build("cpu", 0)) >= direct + 15 * 6  # 16 in place of 1, 6 times
    _check_both_forms(build, shape)


def _check_both_forms(build, shape):
    """The check of ``test_both_forms_compute_the_same_model_from_the_same_weights``."""
    cpu, xla_same_seed, xla = build("cpu", 0), build("xla", 0), build("xla", 1)
    assert (cpu.conv_impl, xla.conv_impl) == ("cpu", "xla")
    weights = flat_params(cpu)
    assert {k: v.shape for k, v in flat_params(xla).items()} == \
        {k: v.shape for k, v in weights.items()}
    for path, value in flat_params(xla_same_seed).items():
        np.testing.assert_array_equal(value, weights[path])
    assert any(np.abs(value - weights[path]).max() > 0 for path, value in
               flat_params(xla).items())  # another seed: other weights, until updated
    nnx.update(xla, nnx.state(cpu, nnx.Param))
    x = jnp.asarray(images(shape))
    w = jnp.asarray(images(out_shape(cpu, shape), seed=5))
    (y_cpu, grads_cpu, dx_cpu), (y_xla, grads_xla, dx_xla) = [
        _output_and_grads(model, x, w) for model in (cpu, xla)]
    assert float(jnp.abs(y_cpu).max()) > 0.01
    np.testing.assert_allclose(np.asarray(y_cpu), np.asarray(y_xla), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(dx_cpu), np.asarray(dx_xla), rtol=1e-4, atol=1e-5)
    grads_xla = dict(nnx.to_flat_state(grads_xla))
    for path, value in nnx.to_flat_state(grads_cpu):
        expected = np.asarray(grads_xla[path][...])
        np.testing.assert_allclose(np.asarray(value[...]), expected, rtol=1e-4,
                                   atol=1e-5 * max(1.0, np.abs(expected).max()),
                                   err_msg=str(path))
