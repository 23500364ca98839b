"""Convolution and normalisation layers shared by the U-Net and the PatchGAN (NHWC).

Each layer matches a PyTorch layer the pix2pix models are usually written with, so that
weights and padding conventions carry over: ``ReflectConv`` is
``nn.Conv2d(..., padding=p, padding_mode='reflect')``, ``TransposedConv4x4`` is
``nn.ConvTranspose2d(..., kernel_size=4, stride=2, padding=1)`` and ``ZeroInterleave1x1``
is ``nn.ConvTranspose2d(..., kernel_size=1, stride=2, output_padding=1)``; both transposed
convolutions hold their kernel as a Flax ``nnx.ConvTranspose`` would, ``(kh, kw, in,
out)``, the PyTorch kernel flipped in space.

XLA's CPU backend runs a transposed convolution's gradient (a convolution with a dilated
input) 10-15x slower than PyTorch (measured: 680 ms against 65 ms for 64x64x128 -> 64
channels). So the transposed convolutions here are computed without one: the 4x4
stride-2 one as four 2x2 stride-1 convolutions, one per output-pixel parity, interleaved
(the same numbers); the 1x1 one as a 1x1 convolution placed on the even pixels.
Convolutions with fewer than ``FEW_OUTPUTS`` output channels (the PatchGAN's last layer,
the U-Net's output layer) are 10-100x slower still as XLA CPU convolutions than as one
matrix product over the channels followed by a sum of shifted slices
(``conv_few_outputs``), which is what they use. Convolutions with at most
``SMALL_OUTPUT`` output pixels per image (the U-Net's deepest layers: 512-1024 channels
on 2x2 to 8x8 pixels) spend their time in XLA's CPU backend copying, flipping and
transposing their kernels for the input gradient (measured: 66-100 ms for the forward and
both gradients of a 4x4 stride-2 512 -> 512 convolution on 4x4 pixels, batch 1); as one
matrix product of the input's patches (``conv_as_matmul``) they take 5-10 ms, the
gradients being matrix products too. Larger strided convolutions (the U-Net's and the
PatchGAN's 4x4 stride-2 layers) run as stride-1 convolutions over 2x2 pixel blocks
(``conv_space_to_depth``): with convolutions off YNNPACK (the training command's XLA
flags) their forward pass and both gradients run 1.3-3.2x faster at batch 1 and
1.2-1.7x faster at batch 16 (``benchmarks/bench_layers.py``; about the same with XLA's
defaults).
Initialisation is the reference's: the U-Net's kernels from N(0, 0.02), biases 0 and
(BatchNorm extension) scales from N(1, 0.02) (``conv_init``, ``scale_init``); the
PatchGAN keeps PyTorch's default for its convolutions (``torch_default_init``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from flax import nnx

from nectargan_jax.models._canonical_conv import conv_nhwc

NORMS = ("instance", "batch")
UPSAMPLE_TYPES = ("Transposed", "Bilinear")

conv_init = nnx.initializers.normal(0.02)

# Convolutions with fewer output channels than this use ``conv_few_outputs``.
FEW_OUTPUTS = 8
# Convolutions with at most this many output pixels per image use ``conv_as_matmul``.
SMALL_OUTPUT = 64


def scale_init(key: jax.Array, shape: tuple[int, ...], dtype: jnp.dtype = jnp.float32) -> jax.Array:
    """Normalisation scales drawn from N(1, 0.02) (Isola et al.; the reference does the same)."""
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def torch_default_init(fan_in: int) -> tuple[nnx.initializers.Initializer,
                                              nnx.initializers.Initializer]:
    """PyTorch's default ``nn.Conv2d`` initialisation, as ``(kernel_init, bias_init)``.

    Both are U(-1/sqrt(fan_in), 1/sqrt(fan_in)), ``fan_in = kh * kw * in_channels``
    (``kaiming_uniform_(a=sqrt(5))`` for the weight, and the bias rule of
    ``_ConvNd.reset_parameters``).
    """
    bound = 1.0 / fan_in ** 0.5

    def uniform(key: jax.Array, shape: tuple[int, ...], dtype: jnp.dtype = jnp.float32
                ) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return uniform, uniform


def check_nhwc(x: jax.Array, channels: int, where: str) -> None:
    """Raises ValueError unless ``x`` is a rank-4 NHWC batch with ``channels`` channels."""
    if x.ndim != 4 or x.shape[-1] != channels:
        raise ValueError(
            f"{where} takes an NHWC batch (N, H, W, {channels}), got shape {tuple(x.shape)}.")


def tap_responses(x: jax.Array, kernel: jax.Array) -> list[list[jax.Array]]:
    """Every input pixel through every kernel tap: (N, H, W, C), (kh, kw, C, O) ->
    ``taps[i][j]`` of shape (N, H, W, O), tap (i, j)'s response, from one matrix product
    over the channels.

    The product's output is split into the taps, not sliced: the gradient of a split is
    one concatenation, where each slice's gradient is a zero array of the product's
    full size (the U-Net's output layer, forward and both gradients: 4-7x faster split,
    ``benchmarks/bench_layers.py``).
    """
    kh, kw, c, o = kernel.shape
    z = jnp.einsum("nhwc,cq->nhwq", x, kernel.transpose(2, 0, 1, 3).reshape(c, kh * kw * o))
    taps = jnp.split(z, kh * kw, axis=-1)
    return [taps[i * kw:(i + 1) * kw] for i in range(kh)]


def conv_few_outputs(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """A stride-1 'VALID' convolution (NHWC, HWIO) as ``tap_responses`` summed over shifts.

    The same numbers as ``lax.conv_general_dilated``; fast where the output has few
    channels, as the intermediate holds ``kh * kw`` of them per input pixel.
    """
    kh, kw = kernel.shape[:2]
    out_h, out_w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    z = tap_responses(x, kernel)
    return sum(z[i][j][:, i:i + out_h, j:j + out_w] for i in range(kh) for j in range(kw))


def conv_as_matmul(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """A 'VALID' convolution (NHWC, HWIO) as one matrix product of the input's patches.

    The same numbers as ``lax.conv_general_dilated``; fast where the output has few
    pixels, as the patches hold ``kh * kw`` copies of the input channels per output pixel.
    """
    kh, kw, c, o = kernel.shape
    out_h, out_w = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    patches = jnp.concatenate(
        [x[:, i:i + stride * (out_h - 1) + 1:stride, j:j + stride * (out_w - 1) + 1:stride]
         for i in range(kh) for j in range(kw)], axis=-1)
    return jnp.einsum("nhwq,qo->nhwo", patches, kernel.reshape(kh * kw * c, o))


def conv_space_to_depth(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """A strided 'VALID' convolution (NHWC, HWIO) as a stride-1 one over the input's
    ``stride x stride`` pixel blocks (kernel sides multiples of ``stride``).

    Each block becomes one pixel of ``stride ** 2 * C`` channels and the kernel is
    regrouped to match: the same numbers as ``lax.conv_general_dilated``. Trailing rows
    and columns that no output reads are dropped first.
    """
    kh, kw, c, o = kernel.shape
    n, h, w, _ = x.shape
    rows, cols = h // stride, w // stride
    blocks = (x[:, :rows * stride, :cols * stride]
              .reshape(n, rows, stride, cols, stride, c)
              .transpose(0, 1, 3, 2, 4, 5)
              .reshape(n, rows, cols, stride * stride * c))
    grouped = (kernel.reshape(kh // stride, stride, kw // stride, stride, c, o)
               .transpose(0, 2, 1, 3, 4, 5)
               .reshape(kh // stride, kw // stride, stride * stride * c, o))
    return conv_nhwc(blocks, grouped, 1)


def conv_method(x_shape: tuple[int, ...], kernel_shape: tuple[int, ...], stride: int) -> str:
    """How ``conv_valid`` computes a convolution of these shapes on a CPU.

    Returns:
      ``'few_outputs'`` (``conv_few_outputs``) for fewer than ``FEW_OUTPUTS`` output
      channels at stride 1, ``'matmul'`` (``conv_as_matmul``) for at most
      ``SMALL_OUTPUT`` output pixels per image, ``'space_to_depth'``
      (``conv_space_to_depth``) for a stride that divides both kernel sides, otherwise
      ``'xla'`` (``lax.conv_general_dilated``).

    Examples:
      >>> conv_method((1, 6, 6, 512), (4, 4, 512, 512), 2)
      'matmul'
      >>> conv_method((1, 130, 130, 64), (4, 4, 64, 128), 2)
      'space_to_depth'
      >>> conv_method((1, 66, 66, 128), (4, 4, 128, 256), 1)
      'xla'
    """
    kh, kw, _, o = kernel_shape
    out_h, out_w = (x_shape[1] - kh) // stride + 1, (x_shape[2] - kw) // stride + 1
    if stride == 1 and o < FEW_OUTPUTS:
        return "few_outputs"
    if out_h * out_w <= SMALL_OUTPUT:
        return "matmul"
    if stride > 1 and kh % stride == 0 and kw % stride == 0:
        return "space_to_depth"
    return "xla"


def conv_valid(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """A 'VALID' convolution (NHWC, HWIO) computed as ``conv_method`` says: the same
    numbers every way."""
    method = conv_method(x.shape, kernel.shape, stride)
    if method == "few_outputs":
        return conv_few_outputs(x, kernel)
    if method == "matmul":
        return conv_as_matmul(x, kernel, stride)
    if method == "space_to_depth":
        return conv_space_to_depth(x, kernel, stride)
    return conv_nhwc(x, kernel, stride)


class ReflectConv(nnx.Module):
    """A convolution over a reflection-padded input (PyTorch's ``padding_mode='reflect'``).

    ``torch_init`` draws the kernel and bias as PyTorch's ``nn.Conv2d`` does by default
    (``torch_default_init``), else the kernel from ``conv_init`` and the bias 0.
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: int, stride: int,
                 pad: int, *, use_bias: bool, rngs: nnx.Rngs, torch_init: bool = False):
        self.pad = pad
        self.stride = stride
        kernel_init, bias_init = (torch_default_init(kernel_size ** 2 * in_features)
                                  if torch_init else (conv_init, nnx.initializers.zeros))
        self.conv = nnx.Conv(in_features, out_features, (kernel_size, kernel_size),
                             (stride, stride), padding="VALID", use_bias=use_bias,
                             kernel_init=kernel_init, bias_init=bias_init, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        p = self.pad
        if p:
            x = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
        y = conv_valid(x, self.conv.kernel[...], self.stride)
        return y + self.conv.bias[...].reshape(1, 1, 1, -1) if self.conv.bias is not None else y


def _interleave(parts: list[list[jax.Array]]) -> jax.Array:
    """``parts[ry][rx]`` of shape (N, H, W, C) -> (N, 2H, 2W, C), part (ry, rx) at
    pixels (2i + ry, 2j + rx)."""
    n, h, w, c = parts[0][0].shape
    rows = [jnp.stack(row, axis=3) for row in parts]  # (N, H, W, 2, C) each
    return jnp.stack(rows, axis=2).reshape(n, 2 * h, 2 * w, c)


class TransposedConv4x4(nnx.Module):
    """``nn.ConvTranspose2d(in, out, kernel_size=4, stride=2, padding=1)`` in NHWC.

    Attributes:
      kernel: ``(4, 4, in, out)``, as ``nnx.ConvTranspose(..., (4, 4), (2, 2),
        padding=((2, 2), (2, 2)))`` holds it (PyTorch's kernel flipped in space).
      bias: ``(out,)`` or None.
    """

    def __init__(self, in_features: int, out_features: int, *, use_bias: bool,
                 rngs: nnx.Rngs):
        self.kernel = nnx.Param(conv_init(rngs.params(), (4, 4, in_features, out_features)))
        self.bias = nnx.Param(jnp.zeros((out_features,))) if use_bias else None

    def __call__(self, x: jax.Array) -> jax.Array:
        # Along each axis, output pixel 2m + r reads input pixels m - 1 + r and m + r
        # (zero padding 1) through taps r and r + 2 of the (flipped) kernel.
        n, h, w, _ = x.shape
        kernel = self.kernel[...]
        padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        if kernel.shape[-1] < FEW_OUTPUTS:
            z = tap_responses(padded, kernel)
            parts = [[sum(z[ry + 2 * ty][rx + 2 * tx][:, ry + ty:ry + ty + h, rx + tx:rx + tx + w]
                          for ty in (0, 1) for tx in (0, 1)) for rx in (0, 1)] for ry in (0, 1)]
        else:
            parts = [[conv_valid(padded[:, ry:ry + h + 1, rx:rx + w + 1],
                                 kernel[ry::2, rx::2], 1)
                      for rx in (0, 1)] for ry in (0, 1)]
        y = _interleave(parts)
        return y + self.bias[...].reshape(1, 1, 1, -1) if self.bias is not None else y


class ZeroInterleave1x1(nnx.Module):
    """``nn.ConvTranspose2d(in, out, kernel_size=1, stride=2, output_padding=1)`` in NHWC:
    the 1x1 convolution of the input on the even pixels, zeros between, plus the bias."""

    def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs):
        self.kernel = nnx.Param(conv_init(rngs.params(), (1, 1, in_features, out_features)))
        self.bias = nnx.Param(jnp.zeros((out_features,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jnp.einsum("nhwi,io->nhwo", x, self.kernel[...][0, 0])
        zeros = jnp.zeros_like(y)
        return _interleave([[y, zeros], [zeros, zeros]]) + self.bias[...].reshape(1, 1, 1, -1)


class UpConv(nnx.Module):
    """Doubles the spatial size: a 4x4 stride-2 transposed convolution, or bilinear + 3x3.

    ``'Transposed'`` is ``nn.ConvTranspose2d(kernel_size=4, stride=2, padding=1)``;
    ``'Bilinear'`` is ``nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False)``
    then ``nn.ReflectionPad2d(1)`` and a 3x3 convolution.
    """

    def __init__(self, in_features: int, out_features: int, upsample_type: str, *,
                 use_bias: bool, rngs: nnx.Rngs):
        if upsample_type not in UPSAMPLE_TYPES:
            raise ValueError(
                f"upsample_type must be one of {UPSAMPLE_TYPES}, got {upsample_type!r}.")
        self.upsample_type = upsample_type
        if upsample_type == "Transposed":
            self.conv = TransposedConv4x4(in_features, out_features, use_bias=use_bias,
                                          rngs=rngs)
        else:
            self.conv = ReflectConv(in_features, out_features, 3, 1, 1, use_bias=use_bias,
                                    rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.upsample_type == "Bilinear":
            n, h, w, c = x.shape
            # antialias only acts when shrinking; off, the ONNX exporter takes it.
            x = jax.image.resize(x, (n, 2 * h, 2 * w, c), method="bilinear", antialias=False)
        return self.conv(x)


class InstanceNorm(nnx.Module):
    """Per-image, per-channel normalisation over height and width: torch's
    ``nn.InstanceNorm2d`` defaults (eps 1e-5, the biased variance in two passes, no
    learned scale or bias, no running statistics).

    Written as two spatial means of the NHWC batch: on XLA CPU, forward and gradient,
    1.1-1.3x faster than ``nnx.InstanceNorm``'s group-norm form at the U-Net's shapes
    (``benchmarks/bench_norm.py``).
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        # Sums, not jnp.mean: jax2onnx writes a mean as an opset-18 ReduceMean, which the
        # exported opset-17 graph cannot hold.
        scale = 1.0 / (x.shape[1] * x.shape[2])
        centred = x - jnp.sum(x, axis=(1, 2), keepdims=True) * scale
        variance = jnp.sum(centred * centred, axis=(1, 2), keepdims=True) * scale
        return centred * lax.rsqrt(variance + 1e-5)


def make_norm(norm: str, features: int, rngs: nnx.Rngs) -> nnx.Module:
    """``'instance'`` (the reference's ``nn.InstanceNorm2d``) or ``'batch'`` (Isola et al.;
    torch's momentum 0.1, eps 1e-5).

    Instance norm is torch's default: eps 1e-5, no learned scale or bias, no running
    statistics (the same in train and eval mode), the variance computed in two passes.

    BatchNorm's running variance averages the biased batch variance (Flax's rule; PyTorch
    averages the unbiased one), so eval-mode outputs differ slightly from a PyTorch twin's
    after training; training-mode outputs and running means match.

    Raises:
      ValueError: another ``norm``.
    """
    if norm == "batch":
        return nnx.BatchNorm(features, momentum=0.9, epsilon=1e-5, scale_init=scale_init,
                             rngs=rngs)
    if norm == "instance":
        return InstanceNorm()
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}.")
