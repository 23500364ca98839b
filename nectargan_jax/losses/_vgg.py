"""Frozen VGG19 features (torchvision ``vgg19().features[0:16]``) and the perceptual loss.

Pretrained weights are never downloaded: the user supplies a torchvision VGG19
state-dict file, e.g. one written with
``torch.save(torchvision.models.vgg19(weights='IMAGENET1K_V1').state_dict(), 'vgg19.pth')``.

Images and features are NHWC by default (Flax's convention) or NCHW with
``layout='NCHW'``; the layout is a plain attribute of :class:`VGG19Features`, so it is
part of the module's static graph definition (``nnx.split(module)[0]``) and never a leaf.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax
from jax.typing import ArrayLike

from nectargan_jax.losses._functions import l1
from nectargan_jax.losses._layout import channel_axis, check_image_batch, check_layout

__all__ = [
    "FrozenWeight",
    "VGG19Features",
    "VGGPerceptual",
    "load_vgg19_features",
    "vgg_perceptual_loss",
]

# torchvision ``vgg19().features`` indices of the convolutions in the slices [0:4], [4:9]
# and [9:16]; the second and third slices start with a 2x2 max-pool.
_SLICES = ((0, 2), (5, 7), (10, 12, 14))
_CONV_INDICES = tuple(i for convs in _SLICES for i in convs)
_CONV_CHANNELS = ((3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256))
_INPUT_CHANNELS = 3
_SUFFIXES = (".npz", ".pt", ".pth")
_WEIGHTS_HINT = (
    "Supply a torchvision VGG19 state-dict file (.pth, .pt or .npz with the same keys), "
    "e.g. one saved with `torch.save(torchvision.models.vgg19(weights='IMAGENET1K_V1')"
    ".state_dict(), 'vgg19.pth')`; nectargan_jax never downloads weights."
)


class FrozenWeight(nnx.Variable):
    """A pretrained weight. Not an ``nnx.Param``: optimizers and ``nnx.grad`` skip it."""


class VGG19Features(nnx.Module):
    """torchvision's ``vgg19().features`` slices [0:4], [4:9] and [9:16], frozen.

    Slice 1 is conv(3->64), ReLU, conv(64->64), ReLU; slice 2 is a 2x2 max-pool with
    stride 2, then conv(64->128), ReLU, conv(128->128), ReLU; slice 3 is a max-pool, then
    three conv(->256) + ReLU. Every conv is 3x3 with zero padding 1. Weights are stored in
    float32 as :class:`FrozenWeight` and wrapped in ``jax.lax.stop_gradient`` in the
    forward pass.

    Args:
        kernels: The seven conv kernels in torch layout ``(out, in, 3, 3)``, in the order
            of ``features.0, 2, 5, 7, 10, 12, 14``.
        biases: The seven conv biases, shape ``(out,)``, same order.
        layout: ``'NHWC'`` (Flax's convention) or ``'NCHW'`` (PyTorch's): the layout of
            the images taken and of the features returned. A plain attribute (static).

    Raises:
        ValueError: If the number or shapes of kernels and biases are not VGG19's, or
            ``layout`` is unknown.

    Examples:
        >>> import jax.numpy as jnp
        >>> shapes = ((64, 3), (64, 64), (128, 64), (128, 128), (256, 128), (256, 256),
        ...           (256, 256))
        >>> kernels = [jnp.zeros((o, i, 3, 3)) for o, i in shapes]
        >>> biases = [jnp.zeros(o) for o, _ in shapes]
        >>> [f.shape for f in VGG19Features(kernels, biases)(jnp.zeros((1, 16, 16, 3)))]
        [(1, 16, 16, 64), (1, 8, 8, 128), (1, 4, 4, 256)]
        >>> vgg = VGG19Features(kernels, biases, layout='NCHW')
        >>> [f.shape for f in vgg(jnp.zeros((1, 3, 16, 16)))]
        [(1, 64, 16, 16), (1, 128, 8, 8), (1, 256, 4, 4)]
    """

    def __init__(self, kernels: Sequence[ArrayLike], biases: Sequence[ArrayLike], *,
                 layout: str = "NHWC"):
        self.layout = check_layout(layout)
        if len(kernels) != len(_CONV_CHANNELS) or len(biases) != len(_CONV_CHANNELS):
            raise ValueError(
                f"VGG19Features needs {len(_CONV_CHANNELS)} kernels and biases, got "
                f"{len(kernels)} kernels and {len(biases)} biases."
            )
        frozen_kernels, frozen_biases = [], []
        for index, (c_in, c_out), kernel, bias in zip(
            _CONV_INDICES, _CONV_CHANNELS, kernels, biases
        ):
            kernel, bias = jnp.asarray(kernel, jnp.float32), jnp.asarray(bias, jnp.float32)
            if kernel.shape != (c_out, c_in, 3, 3) or bias.shape != (c_out,):
                raise ValueError(
                    f"features.{index} of VGG19 has weight shape {(c_out, c_in, 3, 3)} and "
                    f"bias shape {(c_out,)}, got {kernel.shape} and {bias.shape}."
                )
            frozen_kernels.append(FrozenWeight(kernel))
            frozen_biases.append(FrozenWeight(bias))
        self.kernels = nnx.List(frozen_kernels)
        self.biases = nnx.List(frozen_biases)

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, ArrayLike], *,
                        layout: str = "NHWC") -> VGG19Features:
        """Builds the module from a torchvision VGG19 state dict.

        Args:
            state_dict: Maps ``'features.N.weight'`` and ``'features.N.bias'`` (N in 0, 2,
                5, 7, 10, 12, 14) to arrays or CPU torch tensors; other keys, such as
                ``classifier.*`` or deeper features, are ignored.
            layout: ``'NHWC'`` or ``'NCHW'``, see the class.

        Returns:
            The frozen feature extractor.

        Raises:
            KeyError: If any of the fourteen keys above is missing (all are named).
            ValueError: If a weight has the wrong shape, or ``layout`` is unknown.
        """
        check_layout(layout)
        names = [f"features.{i}.{kind}" for i in _CONV_INDICES for kind in ("weight", "bias")]
        missing = [name for name in names if name not in state_dict]
        if missing:
            raise KeyError(f"The VGG19 state dict is missing {missing}. {_WEIGHTS_HINT}")
        return cls(
            [np.asarray(state_dict[f"features.{i}.weight"]) for i in _CONV_INDICES],
            [np.asarray(state_dict[f"features.{i}.bias"]) for i in _CONV_INDICES],
            layout=layout,
        )

    def __call__(self, x: ArrayLike) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Returns the outputs of the three slices for a batch of RGB images ``x``.

        The float32 weights are cast to the dtype of ``x`` (e.g. bfloat16 or float64).

        Args:
            x: Images, ``(N, H, W, 3)`` for NHWC or ``(N, 3, H, W)`` for NCHW.

        Returns:
            The three feature maps, in the module's layout.

        Raises:
            TypeError: If ``x`` is not floating-point.
            ValueError: If ``x`` cannot be a batch of 3-channel images in the layout.
        """
        h = jnp.asarray(x)
        check_image_batch("x", h.shape, self.layout, channels=_INPUT_CHANNELS)
        if not jnp.issubdtype(h.dtype, jnp.floating):
            raise TypeError(f"VGG19Features needs floating-point images, got {h.dtype}.")
        pool = (1, 2, 2, 1) if self.layout == "NHWC" else (1, 1, 2, 2)
        outputs = []
        layers = iter(zip(self.kernels, self.biases))
        for s, convs in enumerate(_SLICES):
            if s > 0:
                h = lax.reduce_window(h, -jnp.inf, lax.max, pool, pool, "VALID")
            for _, (kernel, bias) in zip(convs, layers):
                h = _conv3x3_relu(h, kernel[...], bias[...], self.layout)
            outputs.append(h)
        return tuple(outputs)


def _conv3x3_relu(h: jax.Array, kernel: jax.Array, bias: jax.Array, layout: str) -> jax.Array:
    """ReLU(conv3x3(h) + bias), zero padding 1, in ``layout``; the weights get no gradient."""
    kernel = lax.stop_gradient(kernel).astype(h.dtype)
    bias = lax.stop_gradient(bias).astype(h.dtype)
    h = lax.conv_general_dilated(
        h, kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=(layout, "OIHW", layout)
    )
    bias_shape = [1, 1, 1, 1]
    bias_shape[channel_axis(layout)] = bias.shape[0]
    return jax.nn.relu(h + bias.reshape(bias_shape))


class VGGPerceptual(nnx.Module):
    """Perceptual loss: the sum over VGG19 slices of the mean L1 distance of features.

    ``loss = sum_{s=1..3} mean(|F_s(x) - F_s(y)|)`` with ``F_s`` the slices of
    :class:`VGG19Features` (weights 1.0 each, no input normalisation), as the reference's
    ``VGGPerceptual``; the L1 terms are :func:`l1`'s. ``x`` and ``y`` run through the
    network as one batch. The images' layout is the features' (``features.layout``,
    static).

    Args:
        features: The frozen feature extractor, e.g. from :func:`load_vgg19_features`.

    Examples:
        >>> import jax.numpy as jnp
        >>> shapes = ((64, 3), (64, 64), (128, 64), (128, 128), (256, 128), (256, 256),
        ...           (256, 256))
        >>> vgg = VGG19Features([jnp.ones((o, i, 3, 3)) for o, i in shapes],
        ...                     [jnp.zeros(o) for o, _ in shapes])
        >>> x = jnp.zeros((1, 16, 16, 3))
        >>> loss = VGGPerceptual(vgg)
        >>> loss.layout, float(loss(x, x))
        ('NHWC', 0.0)
    """

    def __init__(self, features: VGG19Features):
        self.features = features

    @property
    def layout(self) -> str:
        """The images' layout, ``'NHWC'`` or ``'NCHW'``: that of the features."""
        return self.features.layout

    def __call__(self, x: ArrayLike, y: ArrayLike, *, reduction: str = "mean") -> jax.Array:
        """Returns the scalar perceptual loss between images ``x`` and ``y``.

        Args:
            x: Images, ``(N, H, W, 3)`` for NHWC or ``(N, 3, H, W)`` for NCHW.
            y: Images, the same shape as ``x``.
            reduction: Only ``'mean'``: the slices' feature maps have different shapes, so
                there is no per-element map.

        Returns:
            A scalar.

        Raises:
            ValueError: If ``reduction`` is not ``'mean'``, or ``x`` and ``y`` differ in
                shape or cannot be batches of 3-channel images in the layout.
        """
        if reduction != "mean":
            raise ValueError(
                "VGGPerceptual supports only reduction='mean' (its feature maps have "
                f"different shapes per slice), got {reduction=!r}."
            )
        x, y = jnp.asarray(x), jnp.asarray(y)
        if x.shape != y.shape:
            raise ValueError(
                f"x and y must have the same shape, got x.shape={x.shape} and y.shape={y.shape}."
            )
        check_image_batch("x", x.shape, self.layout, channels=_INPUT_CHANNELS)
        n = x.shape[0]
        features = self.features(jnp.concatenate([x, y]))
        return sum(l1(f[:n], f[n:]) for f in features)


def load_vgg19_features(path: str | os.PathLike[str] | None, *,
                        layout: str = "NHWC") -> VGG19Features:
    """Reads a torchvision VGG19 state-dict file into a frozen :class:`VGG19Features`.

    Args:
        path: A ``.pth``/``.pt`` file written by ``torch.save(model.state_dict(), path)``
            (read with ``torch.load(weights_only=True)``; needs PyTorch), or a ``.npz`` with
            the same keys (``features.0.weight``, ``features.0.bias``, ...). None raises
            a ValueError that says how to make such a file.
        layout: ``'NHWC'`` (the default) or ``'NCHW'``, see :class:`VGG19Features`.

    Returns:
        The frozen feature extractor.

    Raises:
        ValueError: If ``path`` is None or does not end in .pth, .pt or .npz, or
            ``layout`` is unknown.
        FileNotFoundError: If there is no file at ``path``.
        ImportError: If ``path`` is a .pth/.pt file and PyTorch is not installed.
        KeyError: If the state dict lacks one of the VGG19 feature weights used.
    """
    check_layout(layout)
    if path is None:
        raise ValueError(f"No VGG19 weights given (path=None). {_WEIGHTS_HINT}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No VGG19 weights file at '{path}'. {_WEIGHTS_HINT}")
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(
            f"The VGG19 weights file must end in one of {_SUFFIXES}, got '{path}'."
        )
    if suffix == ".npz":
        with np.load(path) as state_dict:
            return VGG19Features.from_state_dict(state_dict, layout=layout)
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"Reading '{path}' needs PyTorch (pip install torch); or save the state dict "
            "as .npz with the same keys, which needs only NumPy."
        ) from error
    return VGG19Features.from_state_dict(
        torch.load(path, map_location="cpu", weights_only=True), layout=layout
    )


def vgg_perceptual_loss(weights_path: str | os.PathLike[str] | None, *,
                        layout: str = "NHWC") -> VGGPerceptual:
    """Returns the VGG19 perceptual loss ``(x, y, *, reduction='mean') -> scalar``.

    Args:
        weights_path: A torchvision VGG19 state-dict file, see :func:`load_vgg19_features`.
        layout: ``'NHWC'`` (the default) or ``'NCHW'``: the layout of the images.

    Returns:
        A :class:`VGGPerceptual` holding the frozen features.

    Raises:
        ValueError: If ``weights_path`` is None or has an unknown suffix, or ``layout``
            is unknown.
        FileNotFoundError: If there is no file at ``weights_path``.
    """
    return VGGPerceptual(load_vgg19_features(weights_path, layout=layout))
