"""A 'VALID' NHWC convolution whose gradients are NHWC convolutions too (XLA CPU).

XLA's CPU backend runs a convolution on its fast (Eigen) path only in the canonical
form: input NHWC, kernel HWIO, output NHWC. Autodiff's transpose rules give the input
gradient a kernel in HWOI order and the kernel gradient the input's channels as the
batch; XLA CPU's ``ConvCanonicalization`` pass inserts the transposes that make these
canonical, but it walks only the entry computation. Inside a ``lax.scan`` (a while
loop's body) they stay as they are and run on XLA's generic loop emitter: 10-20x slower
for the kernel gradients of the small models' layers (the training step's scan with
one step took 5x as long as the same step unscanned).

``conv_nhwc`` has a custom VJP that writes both gradients as canonical convolutions
with explicit transposes, so the same step runs as fast inside a scan as outside it.
The numbers are those of ``lax.conv_general_dilated``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

_NHWC = ("NHWC", "HWIO", "NHWC")


def _conv(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    return jax.lax.conv_general_dilated(x, kernel, (stride, stride), "VALID",
                                        dimension_numbers=_NHWC)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_nhwc(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """``lax.conv_general_dilated(x, kernel, (stride, stride), 'VALID')`` in NHWC/HWIO,
    its gradients canonical NHWC/HWIO convolutions (see the module docstring)."""
    return _conv(x, kernel, stride)


def _forward(x, kernel, stride):
    return _conv(x, kernel, stride), (x, kernel)


def _backward(stride, residuals, dy):
    x, kernel = residuals
    kh, kw = kernel.shape[:2]
    h, w = x.shape[1:3]
    out_h, out_w = dy.shape[1:3]
    # Rows and columns of x past the last window: no output reads them.
    rest_h, rest_w = h - ((out_h - 1) * stride + kh), w - ((out_w - 1) * stride + kw)
    # dx: dy spread over the stride, through the kernel flipped in space, I and O swapped.
    flipped = jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)
    dx = jax.lax.conv_general_dilated(
        dy, flipped, (1, 1), ((kh - 1, kh - 1 + rest_h), (kw - 1, kw - 1 + rest_w)),
        lhs_dilation=(stride, stride), dimension_numbers=_NHWC)
    # dkernel: x's channels as the batch, its batch as the features, dy as the kernel.
    dkernel = jax.lax.conv_general_dilated(
        x.transpose(3, 1, 2, 0), dy.transpose(1, 2, 0, 3), (1, 1), "VALID",
        rhs_dilation=(stride, stride), dimension_numbers=_NHWC)
    dkernel = dkernel[:, :kh, :kw].transpose(1, 2, 0, 3)
    return dx, dkernel


conv_nhwc.defvjp(_forward, _backward)
