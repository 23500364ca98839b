"""Schedules built from schedules: chaining at epoch boundaries, and a warm-up."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from nectargan_jax._pytree import pytree_dataclass
from nectargan_jax._checks import check_epoch, number_leaf
from nectargan_jax.scheduling._schedule import BaseSchedule


def _require_schedule(name: str, value: object) -> None:
    if not isinstance(value, BaseSchedule):
        raise TypeError(f"{name} must be a Schedule (a BaseSchedule), got {value!r}.")


@pytree_dataclass
class JoinedSchedule(BaseSchedule):
    """Piecewise schedule: ``schedules[k]`` rules from ``boundaries[k-1]`` on.

    Like ``optax.join_schedules``, piece ``k > 0`` is evaluated at
    ``epoch - boundaries[k-1]``, so each piece counts its own epochs from 0.
    Build it with :func:`join_schedules`.
    """

    schedules: tuple[BaseSchedule, ...]
    boundaries: ArrayLike

    def __call__(self, epoch: ArrayLike) -> jax.Array:
        check_epoch(epoch)
        epoch = jnp.asarray(epoch, dtype=jnp.result_type(self.boundaries))
        offsets = [jnp.zeros((), self.boundaries.dtype)] + list(self.boundaries)
        values = [s(epoch - off) for s, off in zip(self.schedules, offsets)]
        piece = sum((epoch >= b).astype(jnp.int32) for b in self.boundaries)
        return jnp.select([piece == k for k in range(len(values))], values)


def join_schedules(schedules: Sequence[BaseSchedule],
                   boundaries: Sequence[float]) -> JoinedSchedule:
    """Chains schedules at epoch boundaries (the optax ``join_schedules`` convention).

    Args:
      schedules: ``K`` schedules.
      boundaries: ``K - 1`` strictly increasing epochs; from ``boundaries[k-1]`` on,
        ``schedules[k]`` is evaluated at ``epoch - boundaries[k-1]``.

    Returns:
      A pytree schedule; the boundaries are leaves.

    Raises:
      TypeError: ``schedules`` or ``boundaries`` is not a sequence, an element is not a
        schedule, or a boundary is not a real number.
      ValueError: wrong number of boundaries, or boundaries not finite and strictly
        increasing.

    Examples:
      >>> from nectargan_jax.scheduling import Schedule, constant
      >>> s = join_schedules([constant(2.0), Schedule('linear', 0, 10, 2.0, 0.0)], [5])
      >>> [float(s(e)) for e in (0, 5, 10, 15)]
      [2.0, 2.0, 1.0, 0.0]
    """
    for name, given in (("schedules", schedules), ("boundaries", boundaries)):
        if not isinstance(given, Sequence) or isinstance(given, str):
            what = "schedules" if name == "schedules" else "real numbers"
            raise TypeError(f"{name} must be a sequence of {what}, got "
                            f"{type(given).__name__}: {given!r}.")
    schedules = tuple(schedules)
    if not schedules:
        raise ValueError("join_schedules requires at least one schedule.")
    for i, s in enumerate(schedules):
        _require_schedule(f"schedules[{i}]", s)
    bounds = number_leaf("boundaries", list(boundaries))
    if bounds.shape != (len(schedules) - 1,):
        raise ValueError(
            f"join_schedules requires len(boundaries) == len(schedules) - 1, got "
            f"{len(bounds)} boundaries for {len(schedules)} schedules.")
    if np.any(np.diff(np.asarray(bounds)) <= 0):
        raise ValueError(
            f"boundaries must be strictly increasing, got boundaries={list(boundaries)}.")
    return JoinedSchedule(schedules, bounds)


@pytree_dataclass
class WarmupSchedule(BaseSchedule):
    """A linear warm-up from ``init_value`` to ``schedule(warmup_epochs)``, then ``schedule``.

    Epochs stay absolute: after the warm-up, ``schedule`` is evaluated at the same epoch,
    and the ramp ends exactly on its value there, so the curve is continuous.
    Build it with :func:`warmup`.
    """

    schedule: BaseSchedule
    warmup_epochs: ArrayLike
    init_value: ArrayLike

    def __call__(self, epoch: ArrayLike) -> jax.Array:
        check_epoch(epoch)
        epoch = jnp.asarray(epoch, dtype=jnp.result_type(self.warmup_epochs))
        peak = self.schedule(self.warmup_epochs)
        p = jnp.clip(epoch / self.warmup_epochs, 0.0, 1.0)
        ramp = self.init_value + p * (peak - self.init_value)
        return jnp.where(epoch < self.warmup_epochs, ramp, self.schedule(epoch))


def warmup(schedule: BaseSchedule, warmup_epochs: float,
           init_value: float = 0.0) -> WarmupSchedule:
    """Prepends a linear warm-up over epochs ``[0, warmup_epochs]`` to ``schedule``.

    Args:
      schedule: what follows the warm-up (evaluated at absolute epochs).
      warmup_epochs: length of the ramp, > 0.
      init_value: value at epoch 0.

    Raises:
      TypeError: ``schedule`` is not a schedule.
      ValueError: ``warmup_epochs <= 0`` or non-finite numbers.

    Examples:
      >>> from nectargan_jax.scheduling import constant
      >>> s = warmup(constant(4.0), warmup_epochs=4)
      >>> [float(s(e)) for e in (0, 1, 4, 9)]
      [0.0, 1.0, 4.0, 4.0]
    """
    _require_schedule("schedule", schedule)
    epochs = number_leaf("warmup_epochs", warmup_epochs)
    if np.any(np.asarray(epochs) <= 0):
        raise ValueError(f"warmup requires warmup_epochs > 0, got warmup_epochs={warmup_epochs}.")
    return WarmupSchedule(schedule, epochs, number_leaf("init_value", init_value))
