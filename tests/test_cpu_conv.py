"""``conv_nhwc`` and ``conv_winograd``: PyTorch's convolution and its two gradients."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from nectargan_jax.models import _cpu_conv
from nectargan_jax.models._cpu_conv import NHWC, PARITIES_AS_ONE, conv_method, conv_nhwc
from nectargan_jax.models._cpu_conv import conv_transpose_4x4, conv_valid, conv_winograd
from nectargan_jax.models._cpu_conv import winograd_matrices


@pytest.mark.parametrize("n, h, w, c, o, k, stride", [
    (2, 9, 7, 3, 5, 3, 1),
    (2, 10, 11, 4, 6, 4, 2),  # rows and columns past the last window
    (1, 9, 9, 2, 3, 3, 2),
    (3, 8, 8, 5, 2, 2, 1),
])
def test_values_and_gradients_match_pytorch(n, h, w, c, o, k, stride):
    _check_against_pytorch(lambda x, kernel: conv_nhwc(x, kernel, stride), (n, h, w, c),
                           (k, k, c, o), stride, seed=k * 10 + stride)


@pytest.mark.parametrize("n, h, w, c, o, kh, kw", [
    (2, 9, 7, 3, 5, 4, 4),  # 6x4 outputs: 2x2 tiles of 3x3, the last column 2/3 past them
    (1, 10, 11, 2, 3, 2, 4),  # 9x8: the last column of tiles 1/3 past the output
    (2, 8, 8, 4, 4, 4, 2),  # 5x7
    (1, 5, 4, 1, 1, 4, 4),  # 2x1: one tile
    (2, 9, 8, 3, 4, 2, 2),  # 8x7
])
def test_winograd_values_and_gradients_match_pytorch(n, h, w, c, o, kh, kw):
    _check_against_pytorch(conv_winograd, (n, h, w, c), (kh, kw, c, o), 1, seed=kh + kw)


def test_winograd_has_points_for_kernel_sides_up_to_4_only():
    """F(3, r) needs r + 1 finite points; the transforms have 5 (0, +-1, +-2), enough
    for the kernel sides the models' layers give (2 and 4; ``conv_method`` picks no
    other), and a larger side is refused with a clear error."""
    assert [winograd_matrices(r)[2].shape for r in (2, 4)] == [(4, 4), (6, 6)]
    with pytest.raises(ValueError, match="needs 7 points"):
        winograd_matrices(6)


def _check_against_pytorch(conv, x_shape, kernel_shape, stride, seed):
    """``conv(x, kernel)``, its input and kernel gradients against ``torch``'s conv2d."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=x_shape).astype(np.float32)
    kernel = rng.normal(size=kernel_shape).astype(np.float32)
    (n, h, w, _), (kh, kw, _, o) = x_shape, kernel_shape
    weights = rng.normal(size=(n, (h - kh) // stride + 1, (w - kw) // stride + 1, o))
    weights = weights.astype(np.float32)

    def loss(x, kernel):
        return jnp.sum(conv(x, kernel) * weights)

    value, (dx, dkernel) = jax.value_and_grad(loss, argnums=(0, 1))(x, kernel)

    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    tk = torch.tensor(kernel.transpose(3, 2, 0, 1), requires_grad=True)
    out = torch.nn.functional.conv2d(tx, tk, stride=stride)
    expected = (out * torch.tensor(weights.transpose(0, 3, 1, 2))).sum()
    expected.backward()
    np.testing.assert_allclose(value, expected.item(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dkernel, tk.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("x_shape, kernel_shape, stride, method", [
    ((3, 35, 35, 32), (4, 4, 32, 32), 1, "winograd"),  # 3 x 32 x 32 = 3072 pixels, 16 x 32
    ((3, 34, 34, 32), (4, 4, 32, 32), 1, "canonical"),  # 3 x 31 x 31
    ((3, 35, 35, 31), (4, 4, 31, 64), 1, "canonical"),  # 16 taps x 31 channels in
    ((3, 35, 35, 64), (4, 4, 64, 31), 1, "canonical"),  # 16 taps x 31 channels out
    ((3, 35, 34, 64), (4, 2, 64, 64), 1, "winograd"),  # 8 taps x 64
    ((3, 35, 34, 63), (4, 2, 63, 64), 1, "canonical"),  # 8 taps x 63
    ((3, 33, 33, 128), (2, 2, 128, 128), 1, "winograd"),  # 4 taps x 128
    ((3, 33, 33, 128), (2, 2, 128, 127), 1, "canonical"),
    ((3, 33, 33, 127), (2, 2, 127, 512), 1, "canonical"),
    ((3, 37, 35, 256), (6, 4, 256, 256), 1, "canonical"),  # a side past 4
    ((3, 35, 35, 256), (3, 3, 256, 256), 1, "canonical"),  # odd sides
    ((3, 35, 35, 64), (4, 4, 64, 7), 1, "few_outputs"),
    ((12, 35, 35, 64), (4, 4, 64, 8), 2, "space_to_depth"),
])
def test_winograd_takes_the_large_stride_one_convolutions(x_shape, kernel_shape, stride,
                                                          method):
    """From 3072 output pixels in the batch and 512 for the kernel's taps times the smaller
    channel count, at stride 1 with kernel sides of 2 or 4 (measured: faster there,
    slower below)."""
    assert conv_method(x_shape, kernel_shape, stride) == method


@pytest.mark.parametrize("layer", ["strided", "transposed"])
def test_strided_and_transposed_convolutions_run_their_2x2_ones_as_winograd(layer,
                                                                            monkeypatch):
    """A 4x4 stride-2 convolution is a 2x2 one over 2x2 pixel blocks, a 4x4 stride-2
    transposed one a 2x2 one per output-pixel parity: those take ``conv_winograd`` as
    any stride-1 convolution would (thresholds at 1 here), and the values and gradients
    stay PyTorch's (``lax``'s for the transposed one, which other tests hold to PyTorch's)."""
    monkeypatch.setattr(_cpu_conv, "WINOGRAD_PIXELS", 1)
    monkeypatch.setattr(_cpu_conv, "WINOGRAD_WIDTH", 1)
    if layer == "strided":
        conv = functools.partial(conv_valid, stride=2)
        x_shape, kernel_shape = (2, 20, 19, 3), (4, 4, 3, 8)  # 9x8 outputs
        _check_against_pytorch(conv, x_shape, kernel_shape, 2, seed=7)
    else:
        conv = conv_transpose_4x4
        x_shape, kernel_shape = (2, 9, 8, 3), (4, 4, 3, 8)  # 9x8 per parity
        _check_against_lax_transpose(x_shape, kernel_shape)
    jaxpr = jax.make_jaxpr(conv)(jnp.zeros(x_shape), jnp.zeros(kernel_shape))
    # F(3x3, 2x2): 16 products per 2x2 convolution, one of them strided, four transposed.
    assert str(jaxpr).count("conv_general_dilated") == (16 if layer == "strided" else 64)


def _check_against_lax_transpose(x_shape, kernel_shape):
    """``conv_transpose_4x4`` and its gradients against ``lax.conv_transpose``'s."""
    rng = np.random.default_rng(3)
    x, kernel = (jnp.asarray(rng.normal(size=shape).astype(np.float32))
                 for shape in (x_shape, kernel_shape))
    weights = jnp.asarray(rng.normal(size=(x_shape[0], 2 * x_shape[1], 2 * x_shape[2],
                                           kernel_shape[-1])).astype(np.float32))

    def plain(x, kernel):
        return jax.lax.conv_transpose(x, kernel, (2, 2), ((2, 2), (2, 2)),
                                      dimension_numbers=NHWC)

    ours, theirs = (jax.value_and_grad(lambda x, k, f=f: jnp.sum(f(x, k) * weights),
                                       argnums=(0, 1))(x, kernel)
                    for f in (conv_transpose_4x4, plain))
    for got, want in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_the_gradients_are_convolutions_in_the_canonical_form():
    x, kernel = jnp.ones((2, 8, 8, 3)), jnp.ones((4, 4, 3, 5))
    hlo = jax.jit(jax.grad(lambda x, k: jnp.sum(conv_nhwc(x, k, 2)), argnums=(0, 1))).lower(
        x, kernel).as_text()
    plain = jax.jit(jax.grad(lambda x, k: jnp.sum(jax.lax.conv_general_dilated(
        x, k, (2, 2), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))),
        argnums=(0, 1))).lower(x, kernel).as_text()
    canonical = "[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]"
    # The forward is not needed for the gradient of a sum: two convolutions, dx and dkernel.
    assert hlo.count("stablehlo.convolution") == hlo.count(canonical) == 2
    assert plain.count(canonical) < plain.count("stablehlo.convolution")


# Tap responses; four convolutions, one per parity; one convolution (PARITIES_AS_ONE).
@pytest.mark.parametrize("out, side", [(3, 6), (16, 6), (16, 32)])
def test_the_transposed_convolutions_kernel_gradient_is_written_once(out, side):
    """The four output-pixel parities each read a quarter of the kernel. As strided
    slices, the kernel's gradient was four zero-padded kernel-sized arrays, added by
    every consumer of it (Adam's two moments): four times the memory traffic, at the
    U-Net's (4, 4, 1024, 512) up-sampling kernels about 20 ms per layer and step."""
    assert (side * side >= PARITIES_AS_ONE) == (side == 32)
    x, kernel = jnp.ones((1, side, side, 8)), jnp.ones((4, 4, 8, out))
    jaxpr = jax.make_jaxpr(jax.grad(lambda k: jnp.sum(conv_transpose_4x4(x, k))))(kernel)
    padded = [eqn for eqn in jaxpr.eqns if eqn.primitive.name == "pad"
              and eqn.outvars[0].aval.shape == kernel.shape]
    assert padded == []
