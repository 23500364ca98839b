"""The PatchGAN discriminator as NectarGAN v0.2.3 builds it from a config (NHWC).

Layout (``c`` channels in, ``b = base_channels``)::

    4x4 s2 reflect conv + bias, c -> b, LeakyReLU(0.2)
    n_layers - 1 blocks: 4x4 reflect conv, k -> min(2k, max_channels), norm, LeakyReLU(0.2),
        stride 2 except the last (stride 1)
    4x4 s1 reflect conv + bias -> 1 channel: one logit per patch

With the reference's defaults (``n_layers=3``, 64, 512) a 256x256 pair gives 62x62 logits.
Every convolution starts from PyTorch's default initialisation, as in the reference
(which initialises only its generator).
"""

from __future__ import annotations

import jax
from flax import nnx

from nectargan_jax.models._layers import ReflectConv
from nectargan_jax.models._layers import check_nhwc
from nectargan_jax.models._layers import make_norm
from nectargan_jax.models._layers import resolve_conv_impl
from nectargan_jax.models._unet import check_positive_int


class PatchBlock(nnx.Module):
    """4x4 reflection-padded conv without bias, norm, LeakyReLU(0.2)."""

    def __init__(self, in_features: int, out_features: int, stride: int, *, norm: str,
                 rngs: nnx.Rngs, conv_impl: str = "auto"):
        self.conv = ReflectConv(in_features, out_features, 4, stride, 1, use_bias=False,
                                rngs=rngs, torch_init=True, conv_impl=conv_impl)
        self.norm = make_norm(norm, out_features, rngs, conv_impl)

    def __call__(self, x: jax.Array) -> jax.Array:
        return nnx.leaky_relu(self.norm(self.conv(x)), 0.2)


class PatchGANDiscriminator(nnx.Module):
    """PatchGAN: ``concat(input, target_or_fake)`` in NHWC -> NHWC logits, one channel.

    Args:
      in_channels: channels of the concatenated pair (input + target channels).
      n_layers: ``train.discriminator.n_layers`` (>= 1).
      base_channels: channels after the first conv.
      max_channels: cap on the channels of every later conv.
      norm: ``'instance'`` (the reference's ``InstanceNorm2d``) or ``'batch'``.
      rngs: parameter initialisation.
      conv_impl: how every layer convolves (``'auto'``, ``'xla'`` or ``'cpu'``: see
        ``UnetGenerator``).

    Attributes:
      conv_impl: ``'xla'`` or ``'cpu'``, what the layers use (``'auto'`` resolved).

    Raises:
      ValueError, TypeError: bad sizes, norm or conv_impl.

    Examples:
      >>> import jax.numpy as jnp
      >>> d = PatchGANDiscriminator(6, base_channels=4, max_channels=8, rngs=nnx.Rngs(0))
      >>> d(jnp.zeros((2, 32, 32, 6))).shape
      (2, 6, 6, 1)
    """

    def __init__(self, in_channels: int, *, n_layers: int = 3, base_channels: int = 64,
                 max_channels: int = 512, norm: str = "instance", rngs: nnx.Rngs,
                 conv_impl: str = "auto"):
        self.in_channels = check_positive_int("in_channels", in_channels)
        check_positive_int("n_layers", n_layers)
        check_positive_int("base_channels", base_channels)
        check_positive_int("max_channels", max_channels)
        self.conv_impl = resolve_conv_impl(conv_impl)
        self.first = ReflectConv(in_channels, base_channels, 4, 2, 1, use_bias=True, rngs=rngs,
                                 torch_init=True, conv_impl=self.conv_impl)
        blocks = []
        channels = base_channels
        self.strides = (2,) + tuple(1 if i == n_layers - 1 else 2 for i in range(1, n_layers))
        for stride in self.strides[1:]:
            out = min(2 * channels, max_channels)
            blocks.append(PatchBlock(channels, out, stride, norm=norm, rngs=rngs,
                                     conv_impl=self.conv_impl))
            channels = out
        self.blocks = nnx.List(blocks)
        self.last = ReflectConv(channels, 1, 4, 1, 1, use_bias=True, rngs=rngs,
                                torch_init=True, conv_impl=self.conv_impl)

    def check_input(self, x: jax.Array) -> None:
        """Raises ValueError unless ``x`` is an NHWC batch large enough for every layer.

        A reflection-padded 4x4 conv needs at least 2 pixels in and gives
        ``(size - 2) // stride + 1`` out.
        """
        check_nhwc(x, self.in_channels, "PatchGANDiscriminator")
        for size in x.shape[1:3]:
            original = size
            for stride in self.strides + (1,):
                if size < 2:
                    raise ValueError(
                        f"PatchGANDiscriminator with {len(self.strides)} layers is too deep "
                        f"for an input of spatial size {original} (shape {tuple(x.shape)}).")
                size = (size - 2) // stride + 1

    def __call__(self, x: jax.Array) -> jax.Array:
        self.check_input(x)
        x = nnx.leaky_relu(self.first(x), 0.2)
        for block in self.blocks:
            x = block(x)
        return self.last(x)
