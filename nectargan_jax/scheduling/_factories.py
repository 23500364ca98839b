"""Factories of the built-in schedules, like optax's ``linear_schedule``.

Each returns a :class:`Schedule` of one built-in kind, validated when it is built:
``linear(0, 10, 1.0, 0.0)`` is ``Schedule('linear', 0, 10, 1.0, 0.0)``. The curve
functions behind the kinds, ``(schedule, epoch, **options) -> value``, are
``schedule_functions()[kind]``.
"""

from __future__ import annotations

import inspect

from jax.typing import ArrayLike

from nectargan_jax.scheduling import _functions
from nectargan_jax.scheduling._schedule import Schedule

__all__ = ["constant", "cosine", "exponential", "linear"]

# The exponential curve's keyword defaults, read from the curve so they are stated once.
_EXPONENTIAL_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(_functions.exponential).parameters.items()
    if parameter.default is not parameter.empty
}


def linear(start_epoch: ArrayLike, end_epoch: ArrayLike, initial_value: ArrayLike,
           target_value: ArrayLike) -> Schedule:
    """A linear ramp from ``initial_value`` to ``target_value``.

    ``value(e) = initial + p * (target - initial)`` with
    ``p = clip((e - start_epoch) / (end_epoch - start_epoch), 0, 1)``, clamped to
    ``[max(0, min(initial, target)), max(initial, target)]``.

    Args:
        start_epoch: Epoch where the ramp starts (``initial_value`` up to it).
        end_epoch: Epoch where it ends (``target_value`` from it on); greater than
            ``start_epoch``.
        initial_value: Value at and before ``start_epoch``.
        target_value: Value at and after ``end_epoch``.

    Returns:
        ``Schedule('linear', start_epoch, end_epoch, initial_value, target_value)``.

    Raises:
        ValueError: If ``end_epoch <= start_epoch`` or a number is not finite.
        TypeError: If a number is not a real number.

    Examples:
        >>> s = linear(start_epoch=100, end_epoch=200, initial_value=2e-4, target_value=0.0)
        >>> round(float(s(150)), 8), float(s(250))
        (0.0001, 0.0)
    """
    return Schedule("linear", start_epoch, end_epoch, initial_value, target_value)


def cosine(start_epoch: ArrayLike, end_epoch: ArrayLike, initial_value: ArrayLike,
           target_value: ArrayLike) -> Schedule:
    """A half-cosine ease from ``initial_value`` to ``target_value``.

    ``value(e) = initial + (target - initial) * (1 - cos(pi * p)) / 2`` with ``p`` and
    the clamp as in :func:`linear`.

    Args:
        start_epoch: Epoch where the ramp starts.
        end_epoch: Epoch where it ends; greater than ``start_epoch``.
        initial_value: Value at and before ``start_epoch``.
        target_value: Value at and after ``end_epoch``.

    Returns:
        ``Schedule('cosine', start_epoch, end_epoch, initial_value, target_value)``.

    Raises:
        ValueError: If ``end_epoch <= start_epoch`` or a number is not finite.
        TypeError: If a number is not a real number.

    Examples:
        >>> s = cosine(0, 10, 1.0, 0.0)
        >>> [round(float(s(e)), 6) for e in (0, 5, 10)]
        [1.0, 0.5, 0.0]
    """
    return Schedule("cosine", start_epoch, end_epoch, initial_value, target_value)


def exponential(
    start_epoch: ArrayLike,
    end_epoch: ArrayLike,
    initial_value: ArrayLike,
    target_value: ArrayLike,
    *,
    epsilon: float = _EXPONENTIAL_DEFAULTS["epsilon"],
    allow_zero_weights: bool = _EXPONENTIAL_DEFAULTS["allow_zero_weights"],
    silent: bool = _EXPONENTIAL_DEFAULTS["silent"],
) -> Schedule:
    """A geometric ramp from ``initial_value`` to ``target_value``.

    ``value(e) = initial * (target / initial) ** p`` with ``p`` and the clamp as in
    :func:`linear`. A zero value has no geometric ramp: with ``allow_zero_weights`` both
    values are first raised to at least ``epsilon`` (decay stops just above 0);
    otherwise with ``silent`` the value steps from ``initial`` to ``target`` at
    ``end_epoch``; with neither, a zero value is an error.

    Args:
        start_epoch: Epoch where the ramp starts.
        end_epoch: Epoch where it ends; greater than ``start_epoch``.
        initial_value: Value at and before ``start_epoch``; at least 0.
        target_value: Value at and after ``end_epoch``; at least 0.
        epsilon: The floor that replaces a zero value with ``allow_zero_weights``.
        allow_zero_weights: Replace zero values by ``epsilon``.
        silent: Without ``allow_zero_weights``, step instead of rejecting a zero value.

    Returns:
        ``Schedule('exponential', ...)`` whose options are those given that differ from
        the defaults above, so ``exponential(0, 10, 1.0, 0.1)`` equals
        ``Schedule('exponential', 0, 10, 1.0, 0.1)`` in structure.

    Raises:
        ValueError: If ``end_epoch <= start_epoch``, a number is not finite, a value is
            negative, or a value is 0 with ``allow_zero_weights=False, silent=False``.
        TypeError: If a number is not a real number.

    Examples:
        >>> s = exponential(0, 10, 1.0, 0.01)
        >>> round(float(s(5)), 6)  # the geometric mean of 1 and 0.01
        0.1
    """
    given = {"epsilon": epsilon, "allow_zero_weights": allow_zero_weights, "silent": silent}
    options = {k: v for k, v in given.items() if v != _EXPONENTIAL_DEFAULTS[k]}
    return Schedule("exponential", start_epoch, end_epoch, initial_value, target_value,
                    options=options)


def constant(value: ArrayLike) -> Schedule:
    """A schedule that is ``value`` at every epoch (how an unscheduled weight is stored).

    Args:
        value: The value; a real number or an array of them.

    Returns:
        ``Schedule('constant', initial_value=value, target_value=value)``.

    Raises:
        ValueError: If ``value`` is not finite.
        TypeError: If ``value`` is not a real number.

    Examples:
        >>> float(constant(2.5)(1000))
        2.5
    """
    return Schedule("constant", initial_value=value, target_value=value)
