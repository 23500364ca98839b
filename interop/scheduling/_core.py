"""Evaluation of the built-in schedule functions by the JAX core, memoised.

The reference evaluates its schedule functions in Python floats on every
``compute_loss_xy`` call. Here the numbers come from ``nectargan_jax.scheduling``: a core
``Schedule`` is built with the interop schedule's (already shifted) numbers, kind and
options, and evaluated with one jitted call. Both run with 64-bit floats enabled, so the
values equal the reference's Python-float arithmetic to the last few ulps.

Both steps are memoised. Building (and so validating) a core Schedule costs about
0.7 ms and is cached on its numbers; one jitted evaluation costs about 60 us and is cached
on (numbers, epoch). A repeated (schedule, epoch) pair, the common case when a loss is
computed every step of an epoch, costs one cache lookup (under a microsecond), so each
pair is evaluated by JAX once.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from nectargan_jax import scheduling as core

_NUMBERS_CACHE_SIZE = 1024
_VALUES_CACHE_SIZE = 65536

Options = tuple[tuple[str, object], ...]


@jax.jit
def _evaluate(schedule: core.Schedule, epoch: jax.Array) -> jax.Array:
    return schedule(epoch)


@functools.lru_cache(maxsize=_NUMBERS_CACHE_SIZE)
def _core_schedule(kind: str, start: float, end: float, initial: float, target: float,
                   options: Options) -> core.Schedule:
    with jax.enable_x64(True):
        return core.Schedule(kind, start_epoch=start, end_epoch=end, initial_value=initial,
                             target_value=target, options=options)


@functools.lru_cache(maxsize=_VALUES_CACHE_SIZE)
def core_value(kind: str, start: float, end: float, initial: float, target: float,
               epoch: float, options: Options = ()) -> float:
    """The core schedule ``kind`` with these numbers, evaluated at ``epoch``.

    Args:
        kind: a core schedule name (``'linear'`` or ``'exponential'``).
        start: the start epoch, already shifted by the interop ``Schedule``.
        end: the end epoch, already shifted.
        initial: the initial value.
        target: the target value.
        epoch: the epoch to evaluate at.
        options: the schedule function's keyword options as sorted ``(name, value)``
            pairs.

    Returns:
        The value as a Python float.

    Raises:
        ValueError: the core rejects the numbers (``end <= start``, negative values for
            ``'exponential'``, non-finite numbers).
    """
    schedule = _core_schedule(kind, start, end, initial, target, options)
    with jax.enable_x64(True):
        return float(_evaluate(schedule, np.float64(epoch)))
