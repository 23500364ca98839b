"""The models' convolutions in forms XLA's CPU backend runs fast (``conv_impl='cpu'``).

Every function here gives the numbers of a plain ``lax`` convolution (NHWC images, HWIO
kernels); the layers use them only where ``conv_impl`` says so (``select_conv_impl``:
``'auto'`` picks them on a CPU backend). They work around XLA CPU problems; on a GPU or
TPU the plain operations, which XLA and cuDNN tune, are the better choice.

- Transposed convolutions: XLA's CPU backend runs their gradient (a convolution with a
  dilated input) 10-15x slower than PyTorch (measured: 680 ms against 65 ms for
  64x64x128 -> 64 channels). ``conv_transpose_4x4`` computes the 4x4 stride-2 one from
  2x2 stride-1 convolutions, one per output-pixel parity, interleaved: on inputs of at
  least ``PARITIES_AS_ONE`` pixels per image as one convolution giving all four
  parities as channels (forward and both gradients 0.65-0.93x the time of four at the
  U-Net's 32x32 and 64x64 layers, batch 1 and 16; about even at 16x16), on smaller
  ones as four (where one's extra row and column of outputs cost up to 2.25x the
  arithmetic: 1.3-1.6x the time at 8x8);
  ``conv_transpose_1x1`` the 1x1 one as a 1x1 convolution placed on the even pixels.
- Few output channels: convolutions with fewer than ``FEW_OUTPUTS`` of them (the
  PatchGAN's last layer, the U-Net's output layer) are 10-100x slower as XLA CPU
  convolutions than as one matrix product over the channels followed by a sum of
  shifted slices (``conv_few_outputs``).
- Few output pixels: convolutions with at most ``SMALL_OUTPUT`` output pixels per image
  (the U-Net's deepest layers: 512-1024 channels on 2x2 to 8x8 pixels) spend their time
  copying, flipping and transposing their kernels for the input gradient (measured:
  66-100 ms for the forward and both gradients of a 4x4 stride-2 512 -> 512 convolution
  on 4x4 pixels, batch 1); as one matrix product of the input's patches
  (``conv_as_matmul``) they take 5-10 ms, the gradients being matrix products too. 1x1
  convolutions (the residual shortcuts) are such a product whatever their size.
- Large stride-1 convolutions with kernel sides of 2 or 4 run as Winograd's
  F(3x3, r x r) (``conv_winograd``): per 3x3 output tile 16 multiplications in place of
  36 for a 2x2 kernel, 36 in place of 144 for a 4x4 one. The transforms cost memory
  traffic in proportion to the channels in and out, the products arithmetic in
  proportion to their product times the taps, so it pays from ``WINOGRAD_PIXELS``
  output pixels in the batch and ``WINOGRAD_WIDTH`` kernel taps times the smaller of the
  channel counts. It takes the PatchGAN's stride-1 block (4x4, 128 -> 256 channels on
  63x63 pixels, the default config's largest layer) and the 2x2 convolutions the
  U-Net's strided and transposed layers become below. In those layers (forward and both
  gradients) it is 1.3-2.3x faster than one convolution at batch 16 and 1.3-1.8x at
  batch 1 where it is taken; below either threshold the transforms cost more than the
  products save (0.3-0.9x). F(2x2, 2x2) on the kernel's 2x2 blocks, the form before,
  was 1.0-1.6x slower at batch 16; F(4x4, r x r) was slower than F(3x3, r x r) at
  most of the layers (its larger tiles' transforms cost more than their products save).
- Strided convolutions (the 4x4 stride-2 layers) run as stride-1 convolutions over 2x2
  pixel blocks (``conv_space_to_depth``, which computes that one as ``conv_valid``
  does): with convolutions off YNNPACK (the training command's XLA flags) their forward
  pass and both gradients run 1.3-3.2x faster at batch 1 and 1.2-1.7x faster at batch 16
  (about the same with XLA's defaults).
- Gradients inside a loop: XLA's CPU backend runs a convolution on its fast (Eigen) path
  only in the canonical form (input NHWC, kernel HWIO, output NHWC). Autodiff's
  transpose rules give the input gradient a kernel in HWOI order and the kernel gradient
  the input's channels as the batch; XLA CPU's ``ConvCanonicalization`` pass inserts
  the transposes that make these canonical, but it walks only the entry computation.
  Inside a ``lax.scan`` (a while loop's body) they stay as they are and run on XLA's
  generic loop emitter: 10-20x slower for the kernel gradients of the small models'
  layers (the training step's scan with one step took 5x as long as the same step
  unscanned). ``conv_nhwc``, which every other convolution here ends in, has a custom
  VJP that writes both gradients as canonical convolutions with explicit transposes.

``benchmarks/bench_layers.py`` times these forms against the plain ones, layer by layer.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

NHWC = ("NHWC", "HWIO", "NHWC")
# Convolutions with fewer output channels than this use ``conv_few_outputs``.
FEW_OUTPUTS = 8
# Convolutions with at most this many output pixels per image use ``conv_as_matmul``.
SMALL_OUTPUT = 64
# Stride-1 convolutions with kernel sides of 2 or 4 use ``conv_winograd`` from this many
# output pixels in the batch (images x rows x columns) and this many kernel taps times
# the smaller of the input and output channel counts.
WINOGRAD_PIXELS = 3072
WINOGRAD_WIDTH = 512
# ``conv_winograd``'s output tile side, and the finite points its transforms interpolate
# at (kernel sides up to 4 need 3 + 4 - 2 of them).
WINOGRAD_TILE = 3
_WINOGRAD_POINTS = (0.0, 1.0, -1.0, 2.0, -2.0)
# 4x4 transposed convolutions of inputs with at least this many pixels per image run
# their four output-pixel parities as one convolution.
PARITIES_AS_ONE = 1024


def _conv(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    return jax.lax.conv_general_dilated(x, kernel, (stride, stride), "VALID",
                                        dimension_numbers=NHWC)


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
        lhs_dilation=(stride, stride), dimension_numbers=NHWC)
    # dkernel: x's channels as the batch, its batch as the features, dy as the kernel.
    dkernel = jax.lax.conv_general_dilated(
        x.transpose(3, 1, 2, 0), dy.transpose(1, 2, 0, 3), (1, 1), "VALID",
        rhs_dilation=(stride, stride), dimension_numbers=NHWC)
    dkernel = dkernel[:, :kh, :kw].transpose(1, 2, 0, 3)
    return dx, dkernel


conv_nhwc.defvjp(_forward, _backward)


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
    """A stride-1 'VALID' convolution as ``tap_responses`` summed over shifts.

    Fast where the output has few channels, as the intermediate holds ``kh * kw`` of
    them per input pixel.
    """
    kh, kw = kernel.shape[:2]
    out_h, out_w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    z = tap_responses(x, kernel)
    return sum(z[i][j][:, i:i + out_h, j:j + out_w] for i in range(kh) for j in range(kw))


def conv_as_matmul(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """A 'VALID' convolution as one matrix product of the input's patches.

    Fast where the output has few pixels, as the patches hold ``kh * kw`` copies of the
    input channels per output pixel.
    """
    kh, kw, c, o = kernel.shape
    out_h, out_w = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    patches = jnp.concatenate(
        [x[:, i:i + stride * (out_h - 1) + 1:stride, j:j + stride * (out_w - 1) + 1:stride]
         for i in range(kh) for j in range(kw)], axis=-1)
    return jnp.einsum("nhwq,qo->nhwo", patches, kernel.reshape(kh * kw * c, o))


def conv_space_to_depth(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """A strided 'VALID' convolution as a stride-1 one over the input's ``stride x
    stride`` pixel blocks (kernel sides multiples of ``stride``).

    Each block becomes one pixel of ``stride ** 2 * C`` channels and the kernel is
    regrouped to match; that convolution is computed as ``conv_valid`` computes it.
    Trailing rows and columns that no output reads are dropped first.
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
    return conv_valid(blocks, grouped, 1)


def conv_winograd(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """A stride-1 'VALID' convolution with kernel sides of at most 4 as Winograd's
    F(3x3, kh x kw): per 3x3 output tile, (kh + 2) x (kw + 2) multiplications in place of
    9 kh kw (0.44x for 2x2 kernels, 0.25x for 4x4), in the forward pass and both gradients.

    Each axis is cut into tiles of ``WINOGRAD_TILE`` outputs, tile t reading the n = r + 2
    inputs from 3t (r the kernel's side on that axis). The input transform
    (``winograd_matrices``' ``bt``) turns every tile into n numbers along each axis; the
    products of those with the transformed kernel (``g``), one 1x1 convolution over the
    tiles per coordinate pair, give each tile's outputs through the output transform
    (``at``). The transforms along the two axes are computed once for all channels.
    """
    kh, kw = kernel.shape[:2]
    out_h, out_w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    tiles_h, tiles_w = -(-out_h // WINOGRAD_TILE), -(-out_w // WINOGRAD_TILE)
    # Zeros past the input to whole tiles (and whole groups of 3); their outputs are dropped.
    rows, cols = _padded_length(tiles_h, kh), _padded_length(tiles_w, kw)
    x = jnp.pad(x, ((0, 0), (0, rows - x.shape[1]), (0, cols - x.shape[2]), (0, 0)))
    tiles = [_input_transform(part, 2, kw, tiles_w)
             for part in _input_transform(x, 1, kh, tiles_h)]
    g_h, g_w = (jnp.asarray(winograd_matrices(r)[1], kernel.dtype) for r in (kh, kw))
    transformed = jnp.einsum("ar,bq,rqco->abco", g_h, g_w, kernel)
    products = [[conv_nhwc(tile, transformed[a, b][None, None], 1) for b, tile in enumerate(row)]
                for a, row in enumerate(tiles)]
    y = _output_transform([_output_transform(row, 2, kw) for row in products], 1, kh)
    return y[:, :out_h, :out_w]


@functools.cache
def winograd_matrices(r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F(3, r)'s transforms, Toom-Cook's at the points 0, 1, -1, (2, -2,) infinity:
    ``at`` (3, n), ``g`` (n, r) and ``bt`` (n, n), n = r + 2, such that
    ``at @ ((g @ kernel) * (bt @ tile))`` is the correlation of an n-input tile with an
    r-tap kernel. ``bt`` is integer; the points' normalisation sits in ``g``.

    Examples:
      >>> at, g, bt = winograd_matrices(2)
      >>> bt.astype(int).tolist()
      [[-1, 0, 1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, -1, 0, 1]]
      >>> tile, kernel = np.array([1.0, 2.0, 4.0, 8.0]), np.array([1.0, 10.0])
      >>> (at @ ((g @ kernel) * (bt @ tile))).tolist()
      [21.0, 42.0, 84.0]
    """
    n = WINOGRAD_TILE + r - 1
    points = np.array(_WINOGRAD_POINTS[:n - 1])
    if len(points) < n - 1:
        raise ValueError(f"F({WINOGRAD_TILE}, {r}) needs {n - 1} points, has {len(points)}")

    def evaluation(degree: int) -> np.ndarray:
        # A polynomial's values at the points from its `degree` coefficients; at infinity
        # its leading coefficient.
        e = np.zeros((n, degree))
        e[:-1] = points[:, None] ** np.arange(degree)
        e[-1, -1] = 1.0
        return e

    norms = np.array([np.prod(p - np.delete(points, j)) for j, p in enumerate(points)] + [1.0])
    bt = np.rint(norms[:, None] * np.linalg.inv(evaluation(n)).T)
    return evaluation(WINOGRAD_TILE).T, evaluation(r) / norms[:, None], bt


def _padded_length(tiles: int, r: int) -> int:
    """Input length along an axis for ``tiles`` tiles of an r-tap kernel, a multiple of
    the tile side covering the last tile's inputs."""
    return WINOGRAD_TILE * (tiles + -(-(r - 1) // WINOGRAD_TILE))


def _input_transform(x: jax.Array, axis: int, r: int, tiles: int) -> list[jax.Array]:
    """F(3, r)'s input transform along ``axis`` (length ``_padded_length``): coordinate k
    of every tile, ``sum_j bt[k, j] * x[3t + j]`` over the tiles t."""
    bt = winograd_matrices(r)[2]
    side, groups = WINOGRAD_TILE, x.shape[axis] // WINOGRAD_TILE
    # Input 3t + j is element j % 3 of group t + j // 3.
    phases = [part.squeeze(axis + 1) for part in jnp.split(
        x.reshape(*x.shape[:axis], groups, side, *x.shape[axis + 1:]), side, axis=axis + 1)]
    inputs = [jax.lax.slice_in_dim(phases[j % side], j // side, j // side + tiles, axis=axis)
              for j in range(bt.shape[1])]
    return [_combination(row, inputs) for row in bt]


def _output_transform(products: list[jax.Array], axis: int, r: int) -> jax.Array:
    """F(3, r)'s output transform along ``axis``: each tile's n products -> its 3 outputs,
    ``sum_k at[i, k] * products[k]`` at 3t + i."""
    outputs = jnp.stack([_combination(row, products) for row in winograd_matrices(r)[0]],
                        axis=axis + 1)
    return outputs.reshape(*outputs.shape[:axis], WINOGRAD_TILE * outputs.shape[axis],
                           *outputs.shape[axis + 2:])


def _combination(coefficients: np.ndarray, arrays: list[jax.Array]) -> jax.Array:
    """``sum(c * a)`` over the nonzero coefficients, +-1 as additions and subtractions."""
    total = None
    for c, a in zip(coefficients.tolist(), arrays):
        if c == 0:
            continue
        if total is None:
            total = a if c == 1 else a * c
        elif abs(c) == 1:
            total = total + a if c > 0 else total - a
        else:
            total = total + a * c
    return total


def conv_method(x_shape: tuple[int, ...], kernel_shape: tuple[int, ...], stride: int) -> str:
    """How ``conv_valid`` computes a convolution of these shapes.

    Returns:
      ``'few_outputs'`` (``conv_few_outputs``) for fewer than ``FEW_OUTPUTS`` output
      channels at stride 1, ``'matmul'`` (``conv_as_matmul``) for a 1x1 kernel or at
      most ``SMALL_OUTPUT`` output pixels per image, ``'winograd'``
      (``conv_winograd``) at stride 1 for kernel sides of 2 or 4, at least
      ``WINOGRAD_PIXELS`` output pixels in the batch and at least ``WINOGRAD_WIDTH``
      kernel taps times the smaller channel count, ``'space_to_depth'``
      (``conv_space_to_depth``) for a stride that divides both kernel sides, otherwise
      ``'canonical'`` (``conv_nhwc``).

    Examples:
      >>> conv_method((1, 6, 6, 512), (4, 4, 512, 512), 2)
      'matmul'
      >>> conv_method((1, 130, 130, 64), (4, 4, 64, 128), 2)
      'space_to_depth'
      >>> conv_method((1, 66, 66, 128), (4, 4, 128, 256), 1)
      'winograd'
      >>> conv_method((1, 34, 34, 256), (4, 4, 256, 512), 1)
      'canonical'
      >>> conv_method((16, 33, 33, 512), (2, 2, 512, 512), 1)
      'winograd'
      >>> conv_method((16, 65, 65, 256), (2, 2, 256, 128), 1)
      'winograd'
      >>> conv_method((16, 129, 129, 24), (2, 2, 24, 64), 1)
      'canonical'
    """
    kh, kw, c, o = kernel_shape
    out_h, out_w = (x_shape[1] - kh) // stride + 1, (x_shape[2] - kw) // stride + 1
    if stride == 1 and o < FEW_OUTPUTS:
        return "few_outputs"
    if kh * kw == 1 or out_h * out_w <= SMALL_OUTPUT:
        return "matmul"
    if (stride == 1 and kh in (2, 4) and kw in (2, 4)
            and x_shape[0] * out_h * out_w >= WINOGRAD_PIXELS
            and kh * kw * min(c, o) >= WINOGRAD_WIDTH):
        return "winograd"
    if stride > 1 and kh % stride == 0 and kw % stride == 0:
        return "space_to_depth"
    return "canonical"


def conv_valid(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """A 'VALID' convolution computed as ``conv_method`` says: the numbers of
    ``lax.conv_general_dilated(x, kernel, (stride, stride), 'VALID')`` every way."""
    method = conv_method(x.shape, kernel.shape, stride)
    if method == "few_outputs":
        return conv_few_outputs(x, kernel)
    if method == "matmul":
        return conv_as_matmul(x, kernel, stride)
    if method == "winograd":
        return conv_winograd(x, kernel)
    if method == "space_to_depth":
        return conv_space_to_depth(x, kernel, stride)
    return conv_nhwc(x, kernel, stride)


def interleave(parts: list[list[jax.Array]]) -> jax.Array:
    """``parts[ry][rx]`` of shape (N, H, W, C) -> (N, 2H, 2W, C), part (ry, rx) at
    pixels (2i + ry, 2j + rx)."""
    n, h, w, c = parts[0][0].shape
    rows = [jnp.stack(row, axis=3) for row in parts]  # (N, H, W, 2, C) each
    return jnp.stack(rows, axis=2).reshape(n, 2 * h, 2 * w, c)


def conv_transpose_4x4(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``lax.conv_transpose(x, kernel, (2, 2), ((2, 2), (2, 2)))`` (PyTorch's
    ``ConvTranspose2d(kernel_size=4, stride=2, padding=1)``, the kernel flipped in space)
    as stride-1 convolutions giving each output-pixel parity, interleaved: from tap
    responses for fewer than ``FEW_OUTPUTS`` output channels, else as one convolution
    (``parities_as_one``) on inputs of at least ``PARITIES_AS_ONE`` pixels per image and
    as four (``parities_as_four``) on smaller ones."""
    # Along each axis, output pixel 2m + r reads input pixels m - 1 + r and m + r
    # (zero padding 1) through taps r and r + 2 of the (flipped) kernel.
    n, h, w, _ = x.shape
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    if kernel.shape[-1] < FEW_OUTPUTS:
        z = tap_responses(padded, kernel)
        parts = [[sum(z[ry + 2 * ty][rx + 2 * tx][:, ry + ty:ry + ty + h, rx + tx:rx + tx + w]
                      for ty in (0, 1) for tx in (0, 1)) for rx in (0, 1)] for ry in (0, 1)]
    elif h * w >= PARITIES_AS_ONE:
        parts = parities_as_one(padded, kernel)
    else:
        parts = parities_as_four(padded, kernel)
    return interleave(parts)


def parities_as_one(padded: jax.Array, kernel: jax.Array) -> list[list[jax.Array]]:
    """The four parities (``interleave``'s parts) of the transposed convolution of an
    input zero-padded by 1 (N, H+2, W+2, I) as one 2x2 convolution of all of it.

    Parity (ry, rx) at (m, n) is the 2x2 convolution of the padded input at
    (m + ry, n + rx): the parities' kernels side by side as the convolution's output
    channels, then each parity's channels at its offset.
    """
    h, w = padded.shape[1] - 2, padded.shape[2] - 2
    i, o = kernel.shape[2:]
    side_by_side = (kernel.reshape(2, 2, 2, 2, i, o).transpose(0, 2, 4, 1, 3, 5)
                    .reshape(2, 2, i, 4 * o))
    # Split, then sliced: the gradient of a split is one concatenation.
    z = jnp.split(conv_valid(padded, side_by_side, 1), 4, axis=-1)
    return [[z[2 * ry + rx][:, ry:ry + h, rx:rx + w] for rx in (0, 1)] for ry in (0, 1)]


def parities_as_four(padded: jax.Array, kernel: jax.Array) -> list[list[jax.Array]]:
    """The same parities as ``parities_as_one``, one 2x2 convolution each over the
    (H+1, W+1) pixels it reads: one output row and column fewer than one convolution
    computes per parity, which matters on small inputs (up to 2.25x the arithmetic)."""
    h, w = padded.shape[1] - 2, padded.shape[2] - 2
    kernels = parity_kernels(kernel)
    return [[conv_valid(padded[:, ry:ry + h + 1, rx:rx + w + 1], kernels[ry][rx], 1)
             for rx in (0, 1)] for ry in (0, 1)]


def parity_kernels(kernel: jax.Array) -> list[list[jax.Array]]:
    """(4, 4, I, O) -> ``kernels[ry][rx] == kernel[ry::2, rx::2]``, shape (2, 2, I, O).

    Regrouped and split rather than sliced: the gradient of a split is one concatenation,
    where each strided slice's gradient is a zero-padded array of the kernel's full size,
    which the optimizer's updates then read four at a time (at the U-Net's
    (4, 4, 1024, 512) kernels, four times the memory traffic of one gradient).
    """
    i, o = kernel.shape[2:]
    # Kernel row 2 * t + r is (t, r) after the reshape; the same for columns.
    grouped = (kernel.reshape(2, 2, 2, 2, i, o).transpose(1, 3, 0, 2, 4, 5)
               .reshape(4, 2, 2, i, o))
    parts = [part[0] for part in jnp.split(grouped, 4)]
    return [parts[0:2], parts[2:4]]


def conv_transpose_1x1(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``lax.conv_transpose(x, kernel, (2, 2), ((0, 1), (0, 1)))`` for a 1x1 kernel
    (PyTorch's ``ConvTranspose2d(kernel_size=1, stride=2, output_padding=1)``): the 1x1
    convolution on the even pixels, zeros between."""
    y = jnp.einsum("nhwi,io->nhwo", x, kernel[0, 0])
    zeros = jnp.zeros_like(y)
    return interleave([[y, zeros], [zeros, zeros]])
