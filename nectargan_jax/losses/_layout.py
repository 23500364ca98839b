"""Image layouts: which axis of a 4-D batch holds the channels, and the checks on shapes.

The core is NHWC (Flax's convention) by default; every image loss also takes
``layout='NCHW'`` (PyTorch's, and ``interop``'s). A shape is rejected, with a
``ValueError`` naming the argument, the shape and the layout, when it cannot be an image
batch in the declared layout:

- it is not 4-D;
- an axis is empty;
- its channel axis is longer than one of its spatial axes (so an NHWC batch
  ``(4, 64, 64, 3)`` passed as NCHW, or an NCHW batch ``(4, 3, 64, 64)`` passed as NHWC,
  raises instead of returning a number); an image must be at least as tall and as wide as
  it has channels;
- for a network with a fixed input width (VGG19: 3), its channel axis has another length.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
from jax.typing import ArrayLike

__all__ = ["LAYOUTS", "ImageLoss", "channel_axis", "check_image_batch", "check_layout"]

LAYOUTS = ("NHWC", "NCHW")
_CHANNEL_AXIS = {"NHWC": 3, "NCHW": 1}


def check_layout(layout: Any) -> str:
    """Returns ``layout`` if it is one of :data:`LAYOUTS`.

    Raises:
        ValueError: For any other value; the message lists the accepted ones.

    Examples:
        >>> check_layout('NCHW')
        'NCHW'
    """
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout=!r}.")
    return layout


def channel_axis(layout: str) -> int:
    """The channel axis of a 4-D batch in ``layout``: 3 for NHWC, 1 for NCHW."""
    return _CHANNEL_AXIS[check_layout(layout)]


def _fits(shape: tuple[int, ...], layout: str, channels: int | None) -> str | None:
    """Why ``shape`` cannot be a batch in ``layout``, or None if it can."""
    if len(shape) != 4:
        return "it is not 4-D"
    if 0 in shape:
        return "it has an empty axis"
    axis = _CHANNEL_AXIS[layout]
    c = shape[axis]
    height, width = (shape[1], shape[2]) if layout == "NHWC" else (shape[2], shape[3])
    if channels is not None and c != channels:
        return f"its channel axis (axis {axis}) has {c} entries, not {channels}"
    if c > min(height, width):
        return (f"its channel axis (axis {axis}, {c} entries) is longer than a spatial "
                f"axis (height {height}, width {width})")
    return None


def check_image_batch(name: str, shape: tuple[int, ...], layout: str,
                      channels: int | None = None) -> None:
    """Raises unless ``shape`` can be an image batch in ``layout`` (see the module's rules).

    Args:
        name: The argument's name, for the message.
        shape: Its (static) shape.
        layout: ``'NHWC'`` or ``'NCHW'``.
        channels: The number of channels required, or None for any.

    Raises:
        ValueError: If ``layout`` is unknown or ``shape`` cannot be a batch in it; the
            message suggests the other layout where the shape would fit that one.

    Examples:
        >>> check_image_batch('x', (4, 64, 64, 3), 'NHWC')
        >>> check_image_batch('x', (4, 64, 64, 3), 'NCHW')  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: x.shape=(4, 64, 64, 3) cannot be an NCHW image batch: ... layout='NHWC'?
    """
    check_layout(layout)
    reason = _fits(shape, layout, channels)
    if reason is None:
        return
    other = LAYOUTS[1 - LAYOUTS.index(layout)]
    hint = f" Did you mean layout={other!r}?" if _fits(shape, other, channels) is None else ""
    raise ValueError(
        f"{name}.shape={shape} cannot be an {layout} image batch: {reason}.{hint}")


@dataclasses.dataclass(frozen=True)
class ImageLoss:
    """An image loss bound to a layout: ``(x, y, *, reduction='mean') -> jax.Array``.

    A frozen, hashable value: two ``ImageLoss`` of the same function and layout are equal
    and hash equal, so a LossManager built twice with them has equal static data and
    compiles once (a ``functools.partial`` or a lambda would compare by identity).

    Args:
        fn: A loss taking ``(x, y, *, layout, reduction)``, e.g.
            :func:`~nectargan_jax.losses.sobel`; module-level, so it compares by name.
        layout: ``'NHWC'`` or ``'NCHW'``.

    Raises:
        TypeError: If ``fn`` is not callable.
        ValueError: If ``layout`` is unknown.

    Examples:
        >>> import jax.numpy as jnp
        >>> from nectargan_jax.losses import laplacian
        >>> loss = ImageLoss(laplacian, 'NCHW')
        >>> loss
        ImageLoss(laplacian, 'NCHW')
        >>> loss == ImageLoss(laplacian, 'NCHW'), loss == ImageLoss(laplacian, 'NHWC')
        (True, False)
        >>> float(loss(jnp.zeros((1, 3, 4, 4)), jnp.ones((1, 3, 4, 4))))
        1.0
    """

    fn: Callable[..., jax.Array]
    layout: str = "NHWC"

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError(f"ImageLoss needs a callable loss function, got fn={self.fn!r}.")
        check_layout(self.layout)

    def __repr__(self) -> str:
        return f"ImageLoss({getattr(self.fn, '__name__', self.fn)}, {self.layout!r})"

    def __call__(self, x: ArrayLike, y: ArrayLike, *, reduction: str = "mean") -> jax.Array:
        """``fn(x, y, layout=layout, reduction=reduction)``."""
        return self.fn(x, y, layout=self.layout, reduction=reduction)
