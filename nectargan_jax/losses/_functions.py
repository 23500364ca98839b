"""Pure pixel-space losses: L1, MSE, BCE with logits, Sobel and Laplacian.

Every function takes ``(x, y, *, reduction='mean')`` and returns a scalar for
``reduction='mean'`` or the per-element map whose mean is that scalar for
``reduction='none'``. Shapes and ``reduction`` are checked in Python on static shapes,
so the checks also run under ``jax.jit``.

The image losses :func:`sobel` and :func:`laplacian` also take ``layout='NHWC'`` (the
default, Flax's convention) or ``'NCHW'``; a shape that cannot be an image batch in that
layout raises (the rules are in ``nectargan_jax.losses._layout``). Both layouts reduce
the channels first, so the stencils run on the same (N, H, W) grayscale image.

The Sobel and Laplacian stencils are sums of shifted slices of the zero-padded grayscale
image, plain elementwise work that XLA fuses; on XLA:CPU the same stencils as
single-channel 3x3 ``lax.conv_general_dilated`` calls are several times slower, forward
and backward (``benchmarks/bench_stencils.py``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from nectargan_jax.losses._layout import channel_axis, check_image_batch, check_layout

__all__ = ["bce_with_logits", "l1", "laplacian", "mse", "sobel"]

_REDUCTIONS = ("mean", "none")
_SOBEL_EPS = 1e-6


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction=!r}.")


def _check_same_shape(x: jax.Array, y: jax.Array, x_name: str, y_name: str) -> None:
    if x.shape != y.shape:
        raise ValueError(
            f"{x_name} and {y_name} must have the same shape, got "
            f"{x_name}.shape={x.shape} and {y_name}.shape={y.shape}."
        )


def as_real_array(caller: str, name: str, value: ArrayLike) -> jax.Array:
    """``value`` as a JAX array of real numbers (floating or integer dtype).

    Raises:
        TypeError: A value that is not an array of real numbers (a string, None, a
            complex or boolean array); the message names ``caller`` and ``name``.

    Examples:
        >>> as_real_array('l1', 'x', [1.0, 2.0]).shape
        (2,)
        >>> as_real_array('l1', 'x', 'abc')
        Traceback (most recent call last):
        ...
        TypeError: l1: x must be a real array, got str: 'abc'.
    """
    if not isinstance(value, jax.Array):  # tracers are jax.Arrays: never on the host
        try:
            value = np.asarray(value)
        except (TypeError, ValueError):
            raise TypeError(f"{caller}: {name} must be a real array, got "
                            f"{type(value).__name__}.") from None
        if value.dtype.kind not in "fiu":
            shown = (f"{type(value.item()).__name__}: {value.item()!r}" if value.ndim == 0
                     else f"dtype {value.dtype}")
            raise TypeError(f"{caller}: {name} must be a real array, got {shown}.")
    elif not (jnp.issubdtype(value.dtype, jnp.floating)
              or jnp.issubdtype(value.dtype, jnp.integer)):
        raise TypeError(f"{caller}: {name} must be a real array, got dtype {value.dtype}.")
    return jnp.asarray(value)


def _real_pair(caller: str, x: ArrayLike, y: ArrayLike,
               names: tuple[str, str] = ("x", "y")) -> tuple[jax.Array, jax.Array]:
    """Both arguments as real arrays of one shape."""
    x, y = as_real_array(caller, names[0], x), as_real_array(caller, names[1], y)
    _check_same_shape(x, y, *names)
    return x, y


def _check_not_empty(caller: str, x: jax.Array, names: tuple[str, str] = ("x", "y")) -> None:
    if x.size == 0:
        raise ValueError(f"{caller}: {names[0]} and {names[1]} must not be empty (a mean over "
                         f"no elements is NaN), got shape {x.shape}.")


def _abs(d: jax.Array) -> jax.Array:
    """``|d|`` with torch's gradient ``sign(d)``, 0 at ``d = 0`` (``jnp.abs`` gives 1)."""
    return d * jnp.sign(d)


def _reduce(values: jax.Array, reduction: str) -> jax.Array:
    return jnp.mean(values) if reduction == "mean" else values


def _image_pair(caller: str, x: ArrayLike, y: ArrayLike, layout: str,
                reduction: str) -> tuple[jax.Array, jax.Array]:
    """Validates an image pair in ``layout`` and returns both zero-padded grayscale images."""
    _check_reduction(reduction)
    check_layout(layout)
    x, y = _real_pair(caller, x, y)
    check_image_batch("x", x.shape, layout)
    return _padded_gray(x, layout), _padded_gray(y, layout)


def _padded_gray(x: jax.Array, layout: str) -> jax.Array:
    """Channel mean with one row/column of zeros on each side: -> (N, H+2, W+2)."""
    # C - 1 additions of channel slices fuse into the stencil; XLA:CPU runs jnp.mean over
    # the short channel axis as a separate library reduction, up to 25x slower.
    channels = _channel_images(x, layout)
    gray = channels[0]
    for channel in channels[1:]:
        gray = gray + channel
    gray = gray / len(channels)
    return jnp.pad(gray, ((0, 0), (1, 1), (1, 1)))


def _channel_images(x: jax.Array, layout: str) -> list[jax.Array]:
    """The channels of a batch in ``layout`` as (N, H, W) images."""
    if layout == "NCHW":
        return [x[:, c] for c in range(x.shape[1])]
    # NHWC: strided slices of the flattened (W * C) axis. On XLA:CPU they fuse into the
    # stencils as fast as NCHW's channel slices; x[..., c] ran about 1.3x slower forward.
    n, h, w, c = x.shape
    flat = x.reshape(n, h, w * c)
    return [flat[..., k::c] for k in range(c)]


def _image_map(values: jax.Array, layout: str, reduction: str) -> jax.Array:
    """The mean of a non-negative (N, H, W) map, or the map with a channel axis of 1 in
    ``layout``."""
    if reduction == "mean":
        return jax.lax.platform_dependent(values, cpu=_fused_mean, default=jnp.mean)
    return jnp.expand_dims(values, channel_axis(layout))


def _fused_mean(values: jax.Array) -> jax.Array:
    """The mean of a non-negative map, its stencil computed in one kernel on XLA:CPU.

    XLA:CPU hands a sum from the constant 0 to YNNPACK with the elementwise arithmetic
    that feeds it, and leaves each shifted slice of the stencil to a kernel of its own:
    Sobel ran as 14 kernels, about 2x slower per call than as 6 (measured). A sum
    starting from ``min(values[0], 0)``, which is 0 for a non-negative map (NaN where
    that element is NaN, as the sum would be), keeps the stencil in one XLA fusion and
    leaves YNNPACK only the sum.
    """
    return _sum_from_first(values) / values.size


@jax.custom_jvp
def _sum_from_first(values: jax.Array) -> jax.Array:
    start = jax.lax.stop_gradient(jnp.minimum(values.ravel()[0], 0))
    return jax.lax.reduce(values, start, jax.lax.add, tuple(range(values.ndim)))


# Differentiated, the plain sum: with it XLA fuses the stencil's backward pass as well as
# before (the sum above made value_and_grad 1.3-1.6x slower, measured).
_sum_from_first.defjvp(lambda primals, tangents: (jnp.sum(*primals), jnp.sum(*tangents)))


def _sobel_magnitude(p: jax.Array) -> jax.Array:
    """Sobel gradient magnitude of a padded image (N, H+2, W+2) -> (N, H, W).

    Both kernels are separable: Kx = [1,2,1]^T [1,0,-1] and Ky = [1,0,-1]^T [1,2,1].
    """
    h, w = p.shape[-2] - 2, p.shape[-1] - 2
    left, mid, right = p[..., 0:w], p[..., 1 : w + 1], p[..., 2 : w + 2]
    diff = left - right
    smooth = left + 2 * mid + right
    gx = diff[..., 0:h, :] + 2 * diff[..., 1 : h + 1, :] + diff[..., 2 : h + 2, :]
    gy = smooth[..., 0:h, :] - smooth[..., 2 : h + 2, :]
    return jnp.sqrt(gx * gx + gy * gy + _SOBEL_EPS)


def _laplacian_response(p: jax.Array) -> jax.Array:
    """Response to [[0,1,0],[1,-4,1],[0,1,0]] of a padded image (N, H+2, W+2) -> (N, H, W)."""
    h, w = p.shape[-2] - 2, p.shape[-1] - 2
    up, down = p[..., 0:h, 1 : w + 1], p[..., 2 : h + 2, 1 : w + 1]
    left, right = p[..., 1 : h + 1, 0:w], p[..., 1 : h + 1, 2 : w + 2]
    center = p[..., 1 : h + 1, 1 : w + 1]
    return up + down + left + right - 4 * center


def l1(x: ArrayLike, y: ArrayLike, *, reduction: str = "mean") -> jax.Array:
    """Mean absolute error, as ``torch.nn.L1Loss``.

    ``loss = mean(|x - y|)``; like torch, the gradient of ``|d|`` is ``sign(d)``, 0 where
    ``x == y``.

    Args:
        x: Predictions, any shape.
        y: Targets, the same shape as ``x``.
        reduction: ``'mean'`` for the scalar loss, ``'none'`` for ``|x - y|``.

    Returns:
        A scalar for ``'mean'``, otherwise an array shaped like ``x``.

    Raises:
        ValueError: If ``x`` and ``y`` differ in shape or are empty, or ``reduction`` is
            unknown.
        TypeError: If ``x`` or ``y`` is not an array of real numbers.

    Examples:
        >>> import jax.numpy as jnp
        >>> float(l1(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0])))
        1.5
    """
    _check_reduction(reduction)
    x, y = _real_pair("l1", x, y)
    _check_not_empty("l1", x)
    return _reduce(_abs(x - y), reduction)


def mse(x: ArrayLike, y: ArrayLike, *, reduction: str = "mean") -> jax.Array:
    """Mean squared error, as ``torch.nn.MSELoss``.

    ``loss = mean((x - y)^2)``.

    Args:
        x: Predictions, any shape.
        y: Targets, the same shape as ``x``.
        reduction: ``'mean'`` for the scalar loss, ``'none'`` for ``(x - y)^2``.

    Returns:
        A scalar for ``'mean'``, otherwise an array shaped like ``x``.

    Raises:
        ValueError: If ``x`` and ``y`` differ in shape or are empty, or ``reduction`` is
            unknown.
        TypeError: If ``x`` or ``y`` is not an array of real numbers.

    Examples:
        >>> import jax.numpy as jnp
        >>> float(mse(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0])))
        2.5
    """
    _check_reduction(reduction)
    x, y = _real_pair("mse", x, y)
    _check_not_empty("mse", x)
    return _reduce(jnp.square(x - y), reduction)


def bce_with_logits(
    logits: ArrayLike, targets: ArrayLike, *, reduction: str = "mean"
) -> jax.Array:
    """Binary cross-entropy on logits, as ``torch.nn.BCEWithLogitsLoss``.

    ``loss = mean(max(z, 0) - z * t + log(1 + exp(-|z|)))``, i.e.
    ``-t log(sigmoid(z)) - (1 - t) log(1 - sigmoid(z))`` without overflow. The gradient
    with respect to the logits is ``sigmoid(z) - t`` everywhere, ``z = 0`` included.

    Args:
        logits: Raw discriminator outputs ``z``, any shape.
        targets: Targets ``t`` (usually 0 or 1), the same shape as ``logits``.
        reduction: ``'mean'`` for the scalar loss, ``'none'`` for the per-element loss.

    Returns:
        A scalar for ``'mean'``, otherwise an array shaped like ``logits``.

    Raises:
        TypeError: If ``logits`` or ``targets`` is not an array of real numbers.
        ValueError: If ``logits`` and ``targets`` differ in shape or are empty, or
            ``reduction`` is unknown.

    Examples:
        >>> import jax.numpy as jnp
        >>> round(float(bce_with_logits(jnp.zeros(4), jnp.ones(4))), 6)  # log(2)
        0.693147
    """
    _check_reduction(reduction)
    z, t = _real_pair("bce_with_logits", logits, targets, ("logits", "targets"))
    _check_not_empty("bce_with_logits", z, ("logits", "targets"))
    # Each branch is torch's formula on its half-line; splitting on the sign instead of
    # writing max(z, 0) and |z| avoids their kinks, which would bias the gradient at z = 0.
    loss = jnp.where(z >= 0, (1 - t) * z + jax.nn.softplus(-z), jax.nn.softplus(z) - z * t)
    return _reduce(loss, reduction)


def sobel(x: ArrayLike, y: ArrayLike, *, layout: str = "NHWC",
          reduction: str = "mean") -> jax.Array:
    """Mean absolute difference of the Sobel gradient magnitudes of two images.

    With ``g = mean over channels``, ``*`` a 3x3 cross-correlation with zero padding 1
    over (height, width), ``Kx = [[1,0,-1],[2,0,-2],[1,0,-1]]`` and
    ``Ky = [[1,2,1],[0,0,0],[-1,-2,-1]]``:
    ``M(x) = sqrt((g(x) * Kx)^2 + (g(x) * Ky)^2 + 1e-6)`` and
    ``loss = mean(|M(x) - M(y)|)``, with the gradient of ``|d|`` taken as ``sign(d)``
    (0 at ``d = 0``), as torch does.

    Args:
        x: Images, shape ``(N, H, W, C)`` for NHWC or ``(N, C, H, W)`` for NCHW.
        y: Images, the same shape as ``x``.
        layout: ``'NHWC'`` (Flax's convention) or ``'NCHW'`` (PyTorch's).
        reduction: ``'mean'`` for the scalar loss, ``'none'`` for ``|M(x) - M(y)|``.

    Returns:
        A scalar for ``'mean'``, otherwise an array of shape ``(N, H, W, 1)`` (NHWC) or
        ``(N, 1, H, W)`` (NCHW).

    Raises:
        TypeError: If ``x`` or ``y`` is not an array of real numbers.
        ValueError: If ``x`` and ``y`` differ in shape, ``x`` cannot be an image batch in
            ``layout`` (not 4-D, an empty axis, more channels than rows or columns), or
            ``layout`` or ``reduction`` is unknown.

    Examples:
        >>> import jax.numpy as jnp
        >>> x = jnp.zeros((1, 8, 8, 3))
        >>> float(sobel(x, x))
        0.0
        >>> sobel(x, x.at[:, 4, 4].set(1.0), reduction='none').shape
        (1, 8, 8, 1)
        >>> sobel(x, x, layout='NCHW')  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: x.shape=(1, 8, 8, 3) cannot be an NCHW image batch: ... layout='NHWC'?
    """
    px, py = _image_pair("sobel", x, y, layout, reduction)
    return _image_map(_abs(_sobel_magnitude(px) - _sobel_magnitude(py)), layout, reduction)


def laplacian(x: ArrayLike, y: ArrayLike, *, layout: str = "NHWC",
              reduction: str = "mean") -> jax.Array:
    """Mean absolute difference of the Laplacian responses of two images.

    With ``g = mean over channels``, ``*`` a 3x3 cross-correlation with zero padding 1
    over (height, width) and ``K = [[0,1,0],[1,-4,1],[0,1,0]]``:
    ``loss = mean(|g(x) * K - g(y) * K|)``, with the gradient of ``|d|`` taken as
    ``sign(d)`` (0 at ``d = 0``), as torch does.

    Args:
        x: Images, shape ``(N, H, W, C)`` for NHWC or ``(N, C, H, W)`` for NCHW.
        y: Images, the same shape as ``x``.
        layout: ``'NHWC'`` (Flax's convention) or ``'NCHW'`` (PyTorch's).
        reduction: ``'mean'`` for the scalar loss, ``'none'`` for the map
            ``|g(x) * K - g(y) * K|``.

    Returns:
        A scalar for ``'mean'``, otherwise an array of shape ``(N, H, W, 1)`` (NHWC) or
        ``(N, 1, H, W)`` (NCHW).

    Raises:
        TypeError: If ``x`` or ``y`` is not an array of real numbers.
        ValueError: If ``x`` and ``y`` differ in shape, ``x`` cannot be an image batch in
            ``layout`` (not 4-D, an empty axis, more channels than rows or columns), or
            ``layout`` or ``reduction`` is unknown.

    Examples:
        >>> import jax.numpy as jnp
        >>> x = jnp.zeros((1, 1, 3, 3))
        >>> laplacian(x, x.at[0, 0, 1, 1].set(1.0), layout='NCHW', reduction='none')[0, 0]
        Array([[0., 1., 0.],
               [1., 4., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    px, py = _image_pair("laplacian", x, y, layout, reduction)
    return _image_map(_abs(_laplacian_response(px) - _laplacian_response(py)), layout,
                      reduction)
