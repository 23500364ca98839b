"""Convolution and normalisation layers shared by the U-Net and the PatchGAN (NHWC).

Each layer matches a PyTorch layer the pix2pix models are usually written with, so that
weights and padding conventions carry over: ``ReflectConv`` is
``nn.Conv2d(..., padding=p, padding_mode='reflect')`` and ``UpConv`` is
``nn.ConvTranspose2d(..., kernel_size=4, stride=2, padding=1)`` (a kernel stored as
Flax's ``(kh, kw, in, out)``, the PyTorch kernel flipped in space).
Initialisation follows Isola et al. (2017): kernels from N(0, 0.02), biases 0,
normalisation scales from N(1, 0.02).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

NORMS = ("batch", "instance")
UPSAMPLE_TYPES = ("Transposed", "Bilinear")

conv_init = nnx.initializers.normal(0.02)


def scale_init(key: jax.Array, shape: tuple[int, ...], dtype: jnp.dtype = jnp.float32) -> jax.Array:
    """Normalisation scales drawn from N(1, 0.02) (Isola et al.; the reference does the same)."""
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def check_nhwc(x: jax.Array, channels: int, where: str) -> None:
    """Raises ValueError unless ``x`` is a rank-4 NHWC batch with ``channels`` channels."""
    if x.ndim != 4 or x.shape[-1] != channels:
        raise ValueError(
            f"{where} takes an NHWC batch (N, H, W, {channels}), got shape {tuple(x.shape)}.")


class ReflectConv(nnx.Module):
    """A convolution over a reflection-padded input (PyTorch's ``padding_mode='reflect'``)."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int, stride: int,
                 pad: int, *, use_bias: bool, rngs: nnx.Rngs):
        self.pad = pad
        self.conv = nnx.Conv(in_features, out_features, (kernel_size, kernel_size),
                             (stride, stride), padding="VALID", use_bias=use_bias,
                             kernel_init=conv_init, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        p = self.pad
        if p:
            x = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
        return self.conv(x)


class UpConv(nnx.Module):
    """Doubles the spatial size: a 4x4 stride-2 transposed convolution, or bilinear + 3x3.

    ``'Transposed'`` is ``nn.ConvTranspose2d(kernel_size=4, stride=2, padding=1)``;
    ``'Bilinear'`` is ``nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False)``
    then a reflection-padded 3x3 convolution.
    """

    def __init__(self, in_features: int, out_features: int, upsample_type: str, *,
                 use_bias: bool, rngs: nnx.Rngs):
        if upsample_type not in UPSAMPLE_TYPES:
            raise ValueError(
                f"upsample_type must be one of {UPSAMPLE_TYPES}, got {upsample_type!r}.")
        self.upsample_type = upsample_type
        if upsample_type == "Transposed":
            # Padding k - 1 - p = 2 on each side of the stride-dilated input: torch's p=1.
            self.conv = nnx.ConvTranspose(in_features, out_features, (4, 4), (2, 2),
                                          padding=((2, 2), (2, 2)), use_bias=use_bias,
                                          kernel_init=conv_init, rngs=rngs)
        else:
            self.conv = ReflectConv(in_features, out_features, 3, 1, 1, use_bias=use_bias,
                                    rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.upsample_type == "Bilinear":
            n, h, w, c = x.shape
            x = jax.image.resize(x, (n, 2 * h, 2 * w, c), method="bilinear")
        return self.conv(x)


def make_norm(norm: str, features: int, rngs: nnx.Rngs) -> nnx.Module:
    """``'batch'`` (Isola et al.; torch's momentum 0.1, eps 1e-5) or ``'instance'`` (the reference).

    Raises:
      ValueError: another ``norm``.
    """
    if norm == "batch":
        return nnx.BatchNorm(features, momentum=0.9, epsilon=1e-5, scale_init=scale_init,
                             rngs=rngs)
    if norm == "instance":
        # torch's InstanceNorm2d default: no learned scale or bias.
        return nnx.InstanceNorm(features, epsilon=1e-5, use_scale=False, use_bias=False,
                                rngs=rngs)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}.")
