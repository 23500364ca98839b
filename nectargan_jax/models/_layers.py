"""Convolution and normalisation layers shared by the U-Net and the PatchGAN (NHWC).

Each layer matches a PyTorch layer the pix2pix models are usually written with, so that
weights and padding conventions carry over: ``ReflectConv`` is
``nn.Conv2d(..., padding=p, padding_mode='reflect')``, ``StridedConv1x1`` is
``nn.Conv2d(..., kernel_size=1, stride=2)``, ``TransposedConv4x4`` is
``nn.ConvTranspose2d(..., kernel_size=4, stride=2, padding=1)`` and ``ZeroInterleave1x1``
is ``nn.ConvTranspose2d(..., kernel_size=1, stride=2, output_padding=1)``; both transposed
convolutions hold their kernel as a Flax ``nnx.ConvTranspose`` would, ``(kh, kw, in,
out)``, the PyTorch kernel flipped in space.

Every layer that convolves takes ``conv_impl`` (``CONV_IMPLS``): ``'xla'`` computes with
``lax.conv_general_dilated`` / ``lax.conv_transpose``, ``'cpu'`` with the forms of
``nectargan_jax.models._cpu_conv`` (the same numbers, faster on XLA's CPU backend), and
``'auto'`` picks one for the default backend at construction (``select_conv_impl``).
The choice is static structure, not state: the parameters are the same either way.

Initialisation is the reference's: the U-Net's kernels from N(0, 0.02), biases 0 and
(BatchNorm extension) scales from N(1, 0.02) (``conv_init``, ``scale_init``); the
PatchGAN keeps PyTorch's default for its convolutions (``torch_default_init``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from flax import nnx

from nectargan_jax.models import _cpu_conv

NORMS = ("instance", "batch")
UPSAMPLE_TYPES = ("Transposed", "Bilinear")
CONV_IMPLS = ("auto", "xla", "cpu")

conv_init = nnx.initializers.normal(0.02)


def select_conv_impl(conv_impl: str, platform: str) -> str:
    """The convolution forms to use on ``platform`` (``jax.default_backend()``, or a
    device's ``platform``): ``conv_impl`` itself if ``'xla'`` or ``'cpu'``; for
    ``'auto'``, ``'cpu'`` on a CPU backend and ``'xla'`` on any other (GPU, TPU), whose
    compilers handle strided and transposed convolutions natively.

    Raises:
      ValueError: ``conv_impl`` is not one of ``CONV_IMPLS``.

    Examples:
      >>> select_conv_impl("auto", "cpu"), select_conv_impl("auto", "gpu")
      ('cpu', 'xla')
      >>> select_conv_impl("cpu", "tpu")
      'cpu'
    """
    if not isinstance(conv_impl, str) or conv_impl not in CONV_IMPLS:
        raise ValueError(f"conv_impl must be one of {CONV_IMPLS}, got {conv_impl!r}.")
    if conv_impl != "auto":
        return conv_impl
    return "cpu" if platform.lower() == "cpu" else "xla"


def resolve_conv_impl(conv_impl: str) -> str:
    """``select_conv_impl`` for the default backend (the one models are built and run on)."""
    return select_conv_impl(conv_impl, jax.default_backend())


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


def convolve(x: jax.Array, kernel: jax.Array, stride: int, conv_impl: str) -> jax.Array:
    """A 'VALID' convolution (NHWC, HWIO) in the forms ``conv_impl`` (``'xla'`` or
    ``'cpu'``) names."""
    if conv_impl == "cpu":
        return _cpu_conv.conv_valid(x, kernel, stride)
    return jax.lax.conv_general_dilated(x, kernel, (stride, stride), "VALID",
                                        dimension_numbers=_cpu_conv.NHWC)


def _with_bias(y: jax.Array, bias: nnx.Param | None) -> jax.Array:
    return y if bias is None else y + bias[...].reshape(1, 1, 1, -1)


class ReflectConv(nnx.Module):
    """A convolution over a reflection-padded input (PyTorch's ``padding_mode='reflect'``).

    ``torch_init`` draws the kernel and bias as PyTorch's ``nn.Conv2d`` does by default
    (``torch_default_init``), else the kernel from ``conv_init`` and the bias 0.
    ``conv_impl``: see the module docstring.
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: int, stride: int,
                 pad: int, *, use_bias: bool, rngs: nnx.Rngs, torch_init: bool = False,
                 conv_impl: str = "auto"):
        self.pad = pad
        self.stride = stride
        self.conv_impl = resolve_conv_impl(conv_impl)
        kernel_init, bias_init = (torch_default_init(kernel_size ** 2 * in_features)
                                  if torch_init else (conv_init, nnx.initializers.zeros))
        self.conv = nnx.Conv(in_features, out_features, (kernel_size, kernel_size),
                             (stride, stride), padding="VALID", use_bias=use_bias,
                             kernel_init=kernel_init, bias_init=bias_init, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        p = self.pad
        if p:
            x = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
        return _with_bias(convolve(x, self.conv.kernel[...], self.stride, self.conv_impl),
                          self.conv.bias)


class StridedConv1x1(nnx.Module):
    """``nn.Conv2d(in, out, kernel_size=1, stride=2)`` in NHWC, kernel from ``conv_init``,
    bias 0 (the residual blocks' shortcut on the way down).

    Attributes:
      kernel: ``(1, 1, in, out)``, as ``nnx.Conv`` holds it (drawn as it draws it).
      bias: ``(out,)``.
    """

    def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs,
                 conv_impl: str = "auto"):
        self.conv_impl = resolve_conv_impl(conv_impl)
        self.kernel = nnx.Param(conv_init(rngs.params(), (1, 1, in_features, out_features)))
        self.bias = nnx.Param(nnx.initializers.zeros(rngs.params(), (out_features,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return _with_bias(convolve(x, self.kernel[...], 2, self.conv_impl), self.bias)


class TransposedConv4x4(nnx.Module):
    """``nn.ConvTranspose2d(in, out, kernel_size=4, stride=2, padding=1)`` in NHWC.

    Attributes:
      kernel: ``(4, 4, in, out)``, as ``nnx.ConvTranspose(..., (4, 4), (2, 2),
        padding=((2, 2), (2, 2)))`` holds it (PyTorch's kernel flipped in space).
      bias: ``(out,)`` or None.
    """

    def __init__(self, in_features: int, out_features: int, *, use_bias: bool,
                 rngs: nnx.Rngs, conv_impl: str = "auto"):
        self.conv_impl = resolve_conv_impl(conv_impl)
        self.kernel = nnx.Param(conv_init(rngs.params(), (4, 4, in_features, out_features)))
        self.bias = nnx.Param(jnp.zeros((out_features,))) if use_bias else None

    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.kernel[...]
        if self.conv_impl == "cpu":
            y = _cpu_conv.conv_transpose_4x4(x, kernel)
        else:
            y = jax.lax.conv_transpose(x, kernel, (2, 2), ((2, 2), (2, 2)),
                                       dimension_numbers=_cpu_conv.NHWC)
        return _with_bias(y, self.bias)


class ZeroInterleave1x1(nnx.Module):
    """``nn.ConvTranspose2d(in, out, kernel_size=1, stride=2, output_padding=1)`` in NHWC:
    the 1x1 convolution of the input on the even pixels, zeros between, plus the bias
    (the residual blocks' shortcut on the way up)."""

    def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs,
                 conv_impl: str = "auto"):
        self.conv_impl = resolve_conv_impl(conv_impl)
        self.kernel = nnx.Param(conv_init(rngs.params(), (1, 1, in_features, out_features)))
        self.bias = nnx.Param(jnp.zeros((out_features,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.kernel[...]
        if self.conv_impl == "cpu":
            y = _cpu_conv.conv_transpose_1x1(x, kernel)
        else:
            y = jax.lax.conv_transpose(x, kernel, (2, 2), ((0, 1), (0, 1)),
                                       dimension_numbers=_cpu_conv.NHWC)
        return _with_bias(y, self.bias)


class UpConv(nnx.Module):
    """Doubles the spatial size: a 4x4 stride-2 transposed convolution, or bilinear + 3x3.

    ``'Transposed'`` is ``nn.ConvTranspose2d(kernel_size=4, stride=2, padding=1)``;
    ``'Bilinear'`` is ``nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False)``
    then ``nn.ReflectionPad2d(1)`` and a 3x3 convolution.
    """

    def __init__(self, in_features: int, out_features: int, upsample_type: str, *,
                 use_bias: bool, rngs: nnx.Rngs, conv_impl: str = "auto"):
        if upsample_type not in UPSAMPLE_TYPES:
            raise ValueError(
                f"upsample_type must be one of {UPSAMPLE_TYPES}, got {upsample_type!r}.")
        self.upsample_type = upsample_type
        if upsample_type == "Transposed":
            self.conv = TransposedConv4x4(in_features, out_features, use_bias=use_bias,
                                          rngs=rngs, conv_impl=conv_impl)
        else:
            self.conv = ReflectConv(in_features, out_features, 3, 1, 1, use_bias=use_bias,
                                    rngs=rngs, conv_impl=conv_impl)

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

    Written as two spatial means of the NHWC batch. ``conv_impl`` (see the module
    docstring) chooses how they are summed. ``'xla'``: plain sums (on XLA CPU, forward
    and gradient, 1.1-1.3x faster than ``nnx.InstanceNorm``'s group-norm form at the
    U-Net's shapes). ``'cpu'``: each sum a product with a vector of ones. XLA's CPU
    backend gives a plain sum to YNNPACK together with the convolution that produces its
    input, and at batch 16 YNNPACK ran that convolution several times slower than XLA
    does (the PatchGAN's stride-1 block, forward and gradients: 1.6x slower in all). A
    product is a matrix multiplication, which keeps the convolution out; alone it costs
    more than a plain sum, but in the models it wins or ties at batch 1 to 16
    (``benchmarks/bench_norm.py``).
    """

    def __init__(self, conv_impl: str = "auto"):
        self.conv_impl = resolve_conv_impl(conv_impl)

    def _spatial_sum(self, x: jax.Array) -> jax.Array:
        """(N, H, W, C) -> (N, 1, 1, C), the sum over H and W."""
        if self.conv_impl == "cpu":
            ones = jnp.ones(x.shape[1:3], x.dtype)
            return jnp.einsum("nhwc,hw->nc", x, ones)[:, None, None, :]
        # Sums, not jnp.mean: jax2onnx writes a mean as an opset-18 ReduceMean, which the
        # exported opset-17 graph cannot hold.
        return jnp.sum(x, axis=(1, 2), keepdims=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        scale = 1.0 / (x.shape[1] * x.shape[2])
        centred = x - self._spatial_sum(x) * scale
        variance = self._spatial_sum(centred * centred) * scale
        return centred * lax.rsqrt(variance + 1e-5)


def make_norm(norm: str, features: int, rngs: nnx.Rngs, conv_impl: str = "auto"
              ) -> nnx.Module:
    """``'instance'`` (the reference's ``nn.InstanceNorm2d``) or ``'batch'`` (Isola et al.;
    torch's momentum 0.1, eps 1e-5).

    Instance norm is torch's default: eps 1e-5, no learned scale or bias, no running
    statistics (the same in train and eval mode), the variance computed in two passes.

    BatchNorm's running variance averages the biased batch variance (Flax's rule; PyTorch
    averages the unbiased one), so eval-mode outputs differ slightly from a PyTorch twin's
    after training; training-mode outputs and running means match.

    ``conv_impl``: how instance norm sums (``InstanceNorm``); BatchNorm ignores it.

    Raises:
      ValueError: another ``norm``.
    """
    if norm == "batch":
        return nnx.BatchNorm(features, momentum=0.9, epsilon=1e-5, scale_init=scale_init,
                             rngs=rngs)
    if norm == "instance":
        return InstanceNorm(conv_impl)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}.")
