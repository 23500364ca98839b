"""The pix2pix U-Net generator as NectarGAN v0.2.3 builds it from a config (NHWC).

Layout (``f = features``, ``n = n_downs``, ``c = min(f * 2^n, 8f)`` the deepest channels,
``8f`` whenever ``n >= 3``; every block is a ``UnetBlock``)::

    initial_down  4x4 s2 reflect conv + bias, in -> f, LeakyReLU(0.2)            H/2
    downs[i]      4x4 s2 reflect conv, k -> min(2k, 8f), norm, LeakyReLU(0.2)    ... H/2^(n+1)
    bottleneck    4x4 s2 reflect conv + bias, c -> c, ReLU                        H/2^(n+2)
    ups[0]        up x2, c -> c, norm, ReLU, dropout                              H/2^(n+1)
    ups[1 + i]    concat(x, skip) -> up x2, norm, ReLU (+ dropout)                mirror of downs
    final_up      concat(x, skip of initial_down) -> up x2 + bias, tanh           H

"up x2" is a 4x4 stride-2 transposed convolution (``'Transposed'``) or bilinear
up-sampling then a reflection-padded 3x3 convolution with a bias (``'Bilinear'``; the
reference's 3x3 convolution keeps PyTorch's default bias in every up block). Dropout 0.5
follows the first ``n_dropout`` up blocks (3 in the reference: ``ups[0]`` to ``ups[2]``).

``block_type='ResidualUnetBlock'`` adds to every block (the outer ones included) a
shortcut: ``ReLU(1x1 stride-2 conv(x))`` on the way down, ``ReLU(1x1 stride-2 transposed
conv(x))`` on the way up, and ``x`` itself where an up block keeps its channels
(``ups[0]``); the sum follows the activation, so the output may leave [-1, 1]. That
identity shortcut is added to an output twice its size, which the reference (PyTorch
broadcasting) allows only when the bottleneck is 1x1: residual generators take exactly
``2^(n+2)`` pixels per side.

For ``n_downs < 3`` the reference's bottleneck expects ``8f`` channels the down path
has not reached, and its generator fails on any input; here the bottleneck and
``ups[0]`` keep the ``c`` channels the down path ends with (an extension).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from nectargan_jax.models._layers import NORMS
from nectargan_jax.models._layers import ReflectConv
from nectargan_jax.models._layers import StridedConv1x1
from nectargan_jax.models._layers import UpConv
from nectargan_jax.models._layers import ZeroInterleave1x1
from nectargan_jax.models._layers import check_nhwc
from nectargan_jax.models._layers import make_norm
from nectargan_jax.models._layers import resolve_conv_impl

BLOCK_TYPES = ("UnetBlock", "ResidualUnetBlock")
ACTIVATIONS = ("leaky", "relu", "tanh")


def check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    """Returns ``value`` if it is an int >= ``minimum``, else raises TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {name}={value}.")
    return value


def _activate(kind: str, x: jax.Array) -> jax.Array:
    if kind == "leaky":
        return nnx.leaky_relu(x, 0.2)
    return nnx.relu(x) if kind == "relu" else jnp.tanh(x)


class UnetBlock(nnx.Module):
    """One block of the U-Net: a down or up convolution, an optional norm, an activation,
    an optional residual shortcut, an optional dropout 0.5 (the reference's ``UnetBlock``
    and ``ResidualUnetBlock``).

    Args:
      in_features, out_features: channels in and out.
      down: a 4x4 stride-2 reflection-padded convolution (halves the size), else an
        ``UpConv`` of ``upsample_type`` (doubles it).
      upsample_type: ``'Transposed'`` or ``'Bilinear'`` (up blocks).
      norm: None, ``'instance'`` or ``'batch'``.
      activation: ``'leaky'`` (0.2), ``'relu'`` or ``'tanh'``.
      use_bias: a bias on the main convolution (always, for the bilinear 3x3 one).
      dropout: dropout 0.5 on the block's output in training mode.
      residual: add the shortcut of the module docstring.
      rngs: parameter initialisation and the dropout stream.
      conv_impl: the convolutions' forms (``UnetGenerator``).
    """

    def __init__(self, in_features: int, out_features: int, *, down: bool,
                 upsample_type: str, norm: str | None, activation: str, use_bias: bool,
                 dropout: bool, residual: bool, rngs: nnx.Rngs, conv_impl: str = "auto"):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}.")
        self.activation = activation
        if down:
            self.conv = ReflectConv(in_features, out_features, 4, 2, 1, use_bias=use_bias,
                                    rngs=rngs, conv_impl=conv_impl)
        else:
            self.conv = UpConv(in_features, out_features, upsample_type,
                               use_bias=use_bias or upsample_type == "Bilinear", rngs=rngs,
                               conv_impl=conv_impl)
        self.norm = (None if norm is None
                     else make_norm(norm, out_features, rngs, conv_impl))
        self.identity_shortcut = residual and not down and in_features == out_features
        if residual and down:
            shortcut = StridedConv1x1(in_features, out_features, rngs=rngs,
                                      conv_impl=conv_impl)
        elif residual and not self.identity_shortcut:
            shortcut = ZeroInterleave1x1(in_features, out_features, rngs=rngs,
                                         conv_impl=conv_impl)
        else:
            shortcut = None
        self.shortcut = shortcut
        self.dropout = nnx.Dropout(0.5, rngs=rngs) if dropout else None

    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.conv(x)
        if self.norm is not None:
            y = self.norm(y)
        y = _activate(self.activation, y)
        if self.shortcut is not None:
            y = y + nnx.relu(self.shortcut(x))
        elif self.identity_shortcut:
            y = y + x  # (N, 1, 1, C) spread over (N, 2, 2, C): see check_input
        return self.dropout(y) if self.dropout is not None else y


class UnetGenerator(nnx.Module):
    """The reference's U-Net generator: NHWC images in [-1, 1] -> NHWC images.

    Args:
      in_channels: channels of the input image.
      out_channels: channels of the output image (the reference: ``in_channels``).
      features: channels after the first layer (``train.generator.features``); deeper
        layers double it up to ``8 * features``.
      n_downs: down blocks between the first layer and the bottleneck
        (``train.generator.n_downs``). Inputs must be multiples of ``2 ** (n_downs + 2)``
        on each side (the reference's minimum size; smaller sides fail there, other
        sizes fail at a skip connection), exactly that size with residual blocks.
      block_type: ``'UnetBlock'`` or ``'ResidualUnetBlock'``.
      upsample_type: ``'Transposed'`` (4x4 stride-2 transposed conv) or ``'Bilinear'``.
      norm: ``'instance'`` (the reference's ``InstanceNorm2d``: no parameters, no running
        statistics) or ``'batch'`` (an extension: batch statistics in training mode,
        running averages in eval mode).
      n_dropout: how many up blocks, deepest first, use dropout 0.5 (the reference: 3).
      rngs: parameter initialisation and the dropout stream (``rngs.dropout``, else
        ``rngs.default``); the stream's state lives in the module, so a run is
        reproducible from the module's state.
      conv_impl: how every layer convolves (``CONV_IMPLS``): ``'xla'`` with ``lax``'s
        convolutions, ``'cpu'`` with forms XLA's CPU backend runs faster (the same
        numbers), ``'auto'`` with ``'cpu'`` when the default backend is the CPU, else
        ``'xla'``. The parameters are the same whichever is used.

    Attributes:
      conv_impl: ``'xla'`` or ``'cpu'``, what the layers use (``'auto'`` resolved).

    Raises:
      ValueError, TypeError: a bad size, block type, upsample type, norm or conv_impl.

    Examples:
      >>> from flax import nnx
      >>> g = UnetGenerator(3, 3, features=4, n_downs=2, rngs=nnx.Rngs(0))
      >>> g(jnp.zeros((1, 32, 16, 3))).shape
      (1, 32, 16, 3)
    """

    def __init__(self, in_channels: int, out_channels: int, *, features: int = 64,
                 n_downs: int = 6, block_type: str = "UnetBlock",
                 upsample_type: str = "Transposed", norm: str = "instance", n_dropout: int = 3,
                 rngs: nnx.Rngs, conv_impl: str = "auto"):
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.out_channels = check_positive_int("out_channels", out_channels)
        check_positive_int("features", features)
        self.n_downs = check_positive_int("n_downs", n_downs)
        check_positive_int("n_dropout", n_dropout, minimum=0)
        if block_type not in BLOCK_TYPES:
            raise ValueError(f"block_type must be one of {BLOCK_TYPES}, got {block_type!r}.")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}.")
        self.residual = block_type == "ResidualUnetBlock"
        self.conv_impl = resolve_conv_impl(conv_impl)

        def block(cin, cout, *, down, norm=None, activation, use_bias=False, dropout=False):
            return UnetBlock(cin, cout, down=down, upsample_type=upsample_type, norm=norm,
                             activation=activation, use_bias=use_bias, dropout=dropout,
                             residual=self.residual, rngs=rngs, conv_impl=self.conv_impl)

        pairs = []
        channels = features
        for _ in range(n_downs):
            pairs.append((channels, min(2 * channels, 8 * features)))
            channels = pairs[-1][1]
        self.initial_down = block(in_channels, features, down=True, activation="leaky",
                                  use_bias=True)
        self.downs = nnx.List([block(i, o, down=True, norm=norm, activation="leaky")
                               for i, o in pairs])
        self.bottleneck = block(channels, channels, down=True, activation="relu",
                                use_bias=True)
        ups = [(channels, channels)] + [(2 * o, i) for i, o in reversed(pairs)]
        self.ups = nnx.List([block(i, o, down=False, norm=norm, activation="relu",
                                   dropout=k < n_dropout) for k, (i, o) in enumerate(ups)])
        self.final_up = block(2 * features, out_channels, down=False, activation="tanh",
                              use_bias=True)

    def check_input(self, x: jax.Array) -> None:
        """Raises ValueError unless ``x`` is an NHWC batch this generator can take."""
        check_nhwc(x, self.in_channels, "UnetGenerator")
        side = 2 ** (self.n_downs + 2)
        height, width = x.shape[1:3]
        if self.residual and (height, width) != (side, side):
            raise ValueError(
                f"UnetGenerator with ResidualUnetBlock and n_downs={self.n_downs} takes "
                f"{side}x{side} images (its first up block adds its 1x1 input to a 2x2 "
                f"output, as the reference does), got (H, W)=({height}, {width}).")
        if height % side or width % side or min(height, width) < side:
            raise ValueError(
                f"UnetGenerator with n_downs={self.n_downs} takes heights and widths that "
                f"are multiples of {side} (at least {side}), got (H, W)=({height}, {width}).")

    def __call__(self, x: jax.Array) -> jax.Array:
        self.check_input(x)
        x = self.initial_down(x)
        skips = [x]
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.ups[0](self.bottleneck(x))
        for up, skip in zip(self.ups[1:], reversed(skips[1:])):
            x = up(jnp.concatenate([x, skip], axis=-1))
        return self.final_up(jnp.concatenate([x, skips[0]], axis=-1))
