"""Pure pixel-space losses: L1, MSE, BCE with logits, Sobel and Laplacian.

Every function takes ``(x, y, *, reduction='mean')`` and returns a scalar for
``reduction='mean'`` or the per-element map whose mean is that scalar for
``reduction='none'``. Shapes and ``reduction`` are checked in Python on static shapes,
so the checks also run under ``jax.jit``.

The Sobel and Laplacian stencils are sums of shifted slices of the zero-padded grayscale
image, plain elementwise work that XLA fuses; on XLA:CPU the same stencils as
single-channel 3x3 ``lax.conv_general_dilated`` calls are several times slower, forward
and backward (``benchmarks/bench_stencils.py``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

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


def _abs(d: jax.Array) -> jax.Array:
    """``|d|`` with torch's gradient ``sign(d)``, 0 at ``d = 0`` (``jnp.abs`` gives 1)."""
    return d * jnp.sign(d)


def _reduce(values: jax.Array, reduction: str) -> jax.Array:
    return jnp.mean(values) if reduction == "mean" else values


def _image_pair(x: ArrayLike, y: ArrayLike, reduction: str) -> tuple[jax.Array, jax.Array]:
    """Validates an N,C,H,W pair and returns both zero-padded grayscale images."""
    _check_reduction(reduction)
    x, y = jnp.asarray(x), jnp.asarray(y)
    _check_same_shape(x, y, "x", "y")
    if x.ndim != 4:
        raise ValueError(f"x and y must be N,C,H,W images, got x.shape={x.shape}.")
    return _padded_gray(x), _padded_gray(y)


def _padded_gray(x: jax.Array) -> jax.Array:
    """Channel mean with one row/column of zeros on each side: (N,C,H,W) -> (N,1,H+2,W+2)."""
    # C - 1 additions of channel slices fuse into the stencil; XLA:CPU runs jnp.mean over
    # the short channel axis as a separate library reduction, up to 25x slower.
    gray = x[:, 0:1]
    for c in range(1, x.shape[1]):
        gray = gray + x[:, c : c + 1]
    gray = gray / x.shape[1]
    return jnp.pad(gray, ((0, 0), (0, 0), (1, 1), (1, 1)))


def _sobel_magnitude(p: jax.Array) -> jax.Array:
    """Sobel gradient magnitude of a padded image (N,1,H+2,W+2) -> (N,1,H,W).

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
    """Response to [[0,1,0],[1,-4,1],[0,1,0]] of a padded image (N,1,H+2,W+2) -> (N,1,H,W)."""
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
        ValueError: If ``x`` and ``y`` differ in shape or ``reduction`` is unknown.

    Examples:
        >>> import jax.numpy as jnp
        >>> float(l1(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0])))
        1.5
    """
    _check_reduction(reduction)
    x, y = jnp.asarray(x), jnp.asarray(y)
    _check_same_shape(x, y, "x", "y")
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
        ValueError: If ``x`` and ``y`` differ in shape or ``reduction`` is unknown.

    Examples:
        >>> import jax.numpy as jnp
        >>> float(mse(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0])))
        2.5
    """
    _check_reduction(reduction)
    x, y = jnp.asarray(x), jnp.asarray(y)
    _check_same_shape(x, y, "x", "y")
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
        ValueError: If ``logits`` and ``targets`` differ in shape or ``reduction`` is
            unknown.

    Examples:
        >>> import jax.numpy as jnp
        >>> round(float(bce_with_logits(jnp.zeros(4), jnp.ones(4))), 6)  # log(2)
        0.693147
    """
    _check_reduction(reduction)
    z, t = jnp.asarray(logits), jnp.asarray(targets)
    _check_same_shape(z, t, "logits", "targets")
    # Each branch is torch's formula on its half-line; splitting on the sign instead of
    # writing max(z, 0) and |z| avoids their kinks, which would bias the gradient at z = 0.
    loss = jnp.where(z >= 0, (1 - t) * z + jax.nn.softplus(-z), jax.nn.softplus(z) - z * t)
    return _reduce(loss, reduction)


def sobel(x: ArrayLike, y: ArrayLike, *, reduction: str = "mean") -> jax.Array:
    """Mean absolute difference of the Sobel gradient magnitudes of two images.

    With ``g = mean over channels``, ``*`` a 3x3 cross-correlation with zero padding 1,
    ``Kx = [[1,0,-1],[2,0,-2],[1,0,-1]]`` and ``Ky = [[1,2,1],[0,0,0],[-1,-2,-1]]``:
    ``M(x) = sqrt((g(x) * Kx)^2 + (g(x) * Ky)^2 + 1e-6)`` and
    ``loss = mean(|M(x) - M(y)|)``, with the gradient of ``|d|`` taken as ``sign(d)``
    (0 at ``d = 0``), as torch does.

    Args:
        x: Images, shape ``(N, C, H, W)``.
        y: Images, the same shape as ``x``.
        reduction: ``'mean'`` for the scalar loss, ``'none'`` for ``|M(x) - M(y)|``.

    Returns:
        A scalar for ``'mean'``, otherwise an array of shape ``(N, 1, H, W)``.

    Raises:
        ValueError: If ``x`` and ``y`` differ in shape or are not 4-D, or
            ``reduction`` is unknown.

    Examples:
        >>> import jax.numpy as jnp
        >>> x = jnp.zeros((1, 3, 8, 8))
        >>> float(sobel(x, x))
        0.0
        >>> sobel(x, x.at[..., 4, 4].set(1.0), reduction='none').shape
        (1, 1, 8, 8)
    """
    px, py = _image_pair(x, y, reduction)
    return _reduce(_abs(_sobel_magnitude(px) - _sobel_magnitude(py)), reduction)


def laplacian(x: ArrayLike, y: ArrayLike, *, reduction: str = "mean") -> jax.Array:
    """Mean absolute difference of the Laplacian responses of two images.

    With ``g = mean over channels``, ``*`` a 3x3 cross-correlation with zero padding 1
    and ``K = [[0,1,0],[1,-4,1],[0,1,0]]``: ``loss = mean(|g(x) * K - g(y) * K|)``, with
    the gradient of ``|d|`` taken as ``sign(d)`` (0 at ``d = 0``), as torch does.

    Args:
        x: Images, shape ``(N, C, H, W)``.
        y: Images, the same shape as ``x``.
        reduction: ``'mean'`` for the scalar loss, ``'none'`` for the map
            ``|g(x) * K - g(y) * K|``.

    Returns:
        A scalar for ``'mean'``, otherwise an array of shape ``(N, 1, H, W)``.

    Raises:
        ValueError: If ``x`` and ``y`` differ in shape or are not 4-D, or
            ``reduction`` is unknown.

    Examples:
        >>> import jax.numpy as jnp
        >>> x = jnp.zeros((1, 1, 3, 3))
        >>> laplacian(x, x.at[0, 0, 1, 1].set(1.0), reduction='none')[0, 0]
        Array([[0., 1., 0.],
               [1., 4., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    px, py = _image_pair(x, y, reduction)
    return _reduce(_abs(_laplacian_response(px) - _laplacian_response(py)), reduction)
