"""The pix2pix U-Net generator (Isola et al. 2017), sized by the reference's config keys.

Layout (NHWC; ``f = features``; a config of ``n_downs`` has ``n_downs + 2`` resolutions)::

    initial_down  4x4 s2 reflect conv, in -> f, LeakyReLU(0.2)             H/2
    downs[i]      4x4 s2 reflect conv, c -> min(2c, 8f), norm, LeakyReLU   H/4 ... H/2^(n+1)
    bottleneck    3x3 s1 reflect conv, 8f -> 8f, ReLU                      H/2^(n+1)
    ups[i]        concat(x, skip) -> upsample x2, norm, ReLU (+ dropout)   mirror of downs
    final_up      concat(x, skip of initial_down) -> upsample x2, tanh      H

Each up block takes the output of the level below concatenated (on the channel axis)
with the down path's output at its own resolution. The first ``n_dropout`` up blocks
(deepest first) apply dropout 0.5 in training mode: the noise source of Isola et al.
``block_type='ResidualUnetBlock'`` adds to each down/up block a shortcut of a 1x1
stride-2 (transposed) convolution and ReLU, as the reference does; the outer two blocks
stay plain so the output is a tanh in [-1, 1] (the reference adds a shortcut there too,
which lets the output leave [-1, 1]).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from nectargan_jax.models._layers import ReflectConv
from nectargan_jax.models._layers import UpConv
from nectargan_jax.models._layers import ZeroInterleave1x1
from nectargan_jax.models._layers import check_nhwc
from nectargan_jax.models._layers import conv_init
from nectargan_jax.models._layers import make_norm

BLOCK_TYPES = ("UnetBlock", "ResidualUnetBlock")


def check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    """Returns ``value`` if it is an int >= ``minimum``, else raises TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {name}={value}.")
    return value


class DownBlock(nnx.Module):
    """4x4 stride-2 reflection-padded conv, norm, LeakyReLU(0.2); optional residual shortcut."""

    def __init__(self, in_features: int, out_features: int, *, norm: str, residual: bool,
                 rngs: nnx.Rngs):
        self.conv = ReflectConv(in_features, out_features, 4, 2, 1, use_bias=False, rngs=rngs)
        self.norm = make_norm(norm, out_features, rngs)
        self.shortcut = (nnx.Conv(in_features, out_features, (1, 1), (2, 2), padding="VALID",
                                  kernel_init=conv_init, rngs=rngs) if residual else None)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = nnx.leaky_relu(self.norm(self.conv(x)), 0.2)
        if self.shortcut is not None:
            y = y + nnx.relu(self.shortcut(x))
        return y


class UpBlock(nnx.Module):
    """Upsample x2, norm, ReLU, optional dropout 0.5; optional residual shortcut."""

    def __init__(self, in_features: int, out_features: int, *, upsample_type: str, norm: str,
                 dropout: bool, residual: bool, rngs: nnx.Rngs):
        self.up = UpConv(in_features, out_features, upsample_type, use_bias=False, rngs=rngs)
        self.norm = make_norm(norm, out_features, rngs)
        self.shortcut = (ZeroInterleave1x1(in_features, out_features, rngs=rngs)
                         if residual else None)
        self.dropout = nnx.Dropout(0.5, rngs=rngs) if dropout else None

    def __call__(self, x: jax.Array) -> jax.Array:
        y = nnx.relu(self.norm(self.up(x)))
        if self.shortcut is not None:
            y = y + nnx.relu(self.shortcut(x))
        if self.dropout is not None:
            y = self.dropout(y)
        return y


class UnetGenerator(nnx.Module):
    """The pix2pix U-Net generator: NHWC images in [-1, 1] -> NHWC images in [-1, 1].

    Args:
      in_channels: channels of the input image.
      out_channels: channels of the output image.
      features: channels after the first layer (``train.generator.features``); deeper
        layers double it up to ``8 * features``.
      n_downs: stride-2 down blocks after the first layer (``train.generator.n_downs``).
        Inputs must be square multiples of ``2 ** (n_downs + 1)`` and at least
        ``2 ** (n_downs + 2)`` on each side (the reference's minimum size).
      block_type: ``'UnetBlock'`` or ``'ResidualUnetBlock'``.
      upsample_type: ``'Transposed'`` (4x4 stride-2 transposed conv) or ``'Bilinear'``.
      norm: ``'batch'`` (Isola et al.; batch statistics in training mode, running averages
        in eval mode) or ``'instance'`` (the reference's InstanceNorm).
      n_dropout: how many up blocks, deepest first, use dropout 0.5 (Isola et al.: 3).
      rngs: parameter initialisation and the dropout stream (``rngs.dropout``, else
        ``rngs.default``); the stream's state lives in the module, so a run is
        reproducible from the module's state.

    Raises:
      ValueError, TypeError: a bad size, block type, upsample type or norm.

    Examples:
      >>> from flax import nnx
      >>> g = UnetGenerator(3, 3, features=4, n_downs=2, rngs=nnx.Rngs(0))
      >>> g(jnp.zeros((1, 16, 16, 3))).shape
      (1, 16, 16, 3)
    """

    def __init__(self, in_channels: int, out_channels: int, *, features: int = 64,
                 n_downs: int = 6, block_type: str = "UnetBlock",
                 upsample_type: str = "Transposed", norm: str = "batch", n_dropout: int = 3,
                 rngs: nnx.Rngs):
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.out_channels = check_positive_int("out_channels", out_channels)
        check_positive_int("features", features)
        self.n_downs = check_positive_int("n_downs", n_downs)
        check_positive_int("n_dropout", n_dropout, minimum=0)
        if block_type not in BLOCK_TYPES:
            raise ValueError(f"block_type must be one of {BLOCK_TYPES}, got {block_type!r}.")
        residual = block_type == "ResidualUnetBlock"
        self.initial_down = ReflectConv(in_channels, features, 4, 2, 1, use_bias=True,
                                        rngs=rngs)
        pairs = []
        channels = features
        for _ in range(n_downs):
            pairs.append((channels, min(2 * channels, 8 * features)))
            channels = pairs[-1][1]
        self.downs = nnx.List([DownBlock(i, o, norm=norm, residual=residual, rngs=rngs)
                               for i, o in pairs])
        self.bottleneck = ReflectConv(channels, channels, 3, 1, 1, use_bias=True, rngs=rngs)
        self.ups = nnx.List([
            UpBlock(2 * o, i, upsample_type=upsample_type, norm=norm, dropout=k < n_dropout,
                    residual=residual, rngs=rngs)
            for k, (i, o) in enumerate(reversed(pairs))])
        self.final_up = UpConv(2 * features, out_channels, upsample_type, use_bias=True,
                               rngs=rngs)

    def check_input(self, x: jax.Array) -> None:
        """Raises ValueError unless ``x`` is an NHWC batch this generator can take."""
        check_nhwc(x, self.in_channels, "UnetGenerator")
        step, smallest = 2 ** (self.n_downs + 1), 2 ** (self.n_downs + 2)
        height, width = x.shape[1:3]
        if height % step or width % step or min(height, width) < smallest:
            raise ValueError(
                f"UnetGenerator with n_downs={self.n_downs} takes heights and widths that are "
                f"multiples of {step} and at least {smallest}, got (H, W)=({height}, {width}).")

    def __call__(self, x: jax.Array) -> jax.Array:
        self.check_input(x)
        x = nnx.leaky_relu(self.initial_down(x), 0.2)
        skips = [x]
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = nnx.relu(self.bottleneck(x))
        for up, skip in zip(self.ups, reversed(skips[1:])):
            x = up(jnp.concatenate([x, skip], axis=-1))
        return jnp.tanh(self.final_up(jnp.concatenate([x, skips[0]], axis=-1)))
