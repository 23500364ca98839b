"""``conv_nhwc``: PyTorch's convolution and its two gradients, from canonical convolutions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from nectargan_jax.models._cpu_conv import PARITIES_AS_ONE, conv_nhwc, conv_transpose_4x4


@pytest.mark.parametrize("n, h, w, c, o, k, stride", [
    (2, 9, 7, 3, 5, 3, 1),
    (2, 10, 11, 4, 6, 4, 2),  # rows and columns past the last window
    (1, 9, 9, 2, 3, 3, 2),
    (3, 8, 8, 5, 2, 2, 1),
])
def test_values_and_gradients_match_pytorch(n, h, w, c, o, k, stride):
    rng = np.random.default_rng(k * 10 + stride)
    x = rng.normal(size=(n, h, w, c)).astype(np.float32)
    kernel = rng.normal(size=(k, k, c, o)).astype(np.float32)
    weights = rng.normal(size=(n, (h - k) // stride + 1, (w - k) // stride + 1, o))
    weights = weights.astype(np.float32)

    def loss(x, kernel):
        return jnp.sum(conv_nhwc(x, kernel, stride) * weights)

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
