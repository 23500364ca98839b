"""A schedule through given points: linear between them, constant beyond the ends."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from nectargan_jax._pytree import pytree_dataclass
from nectargan_jax._checks import check_epoch, increasing_knots
from nectargan_jax.scheduling._schedule import BaseSchedule


@pytree_dataclass
class PiecewiseLinear(BaseSchedule):
    """Linear interpolation through ``(points[i], values[i])``; the first value before
    the first point and the last after the last (``jnp.interp``). At a point it returns
    that point's value exactly. Build it with :func:`piecewise_linear`.

    Attributes:
      points: ``shape=(n,)``, strictly increasing (a leaf).
      values: ``shape=(n,)`` (a leaf).
    """

    points: jax.Array
    values: jax.Array

    def __call__(self, epoch: ArrayLike) -> jax.Array:
        check_epoch(epoch)
        return jnp.interp(jnp.asarray(epoch, self.points.dtype), self.points, self.values)


def piecewise_linear(points: Sequence[float] | ArrayLike,
                     values: Sequence[float] | ArrayLike) -> PiecewiseLinear:
    """A schedule through ``(points[i], values[i])``, linear in between.

    The variable is whatever the schedule is evaluated at: an epoch for a loss weight,
    a step for ``nectargan_jax.weighting.OfStep`` (what ``freeze`` builds).

    Args:
      points: one or more strictly increasing real numbers.
      values: as many real numbers.

    Raises:
      TypeError: non-numbers (bools included).
      ValueError: empty, not one-dimensional, lengths that differ, points not strictly
        increasing, or non-finite numbers.

    Examples:
      >>> s = piecewise_linear([0, 10, 20], [1.0, 3.0, 0.0])
      >>> [float(s(e)) for e in (-5, 0, 5, 10, 15, 30)]
      [1.0, 1.0, 2.0, 3.0, 1.5, 0.0]
    """
    return PiecewiseLinear(*increasing_knots(points, values, "piecewise_linear",
                                             ("points", "values")))
