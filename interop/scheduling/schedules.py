"""The reference's built-in schedule functions, computed by the JAX core.

``ScheduleDefs.linear`` and ``ScheduleDefs.exponential`` take an interop ``Schedule``
(whose epochs are already shifted by -1) and an epoch, and return a Python float. Both
read the schedule's numbers and hand them to a core ``nectargan_jax.Schedule`` of the
same kind (see ``interop.scheduling._core``), so their values are the core's values.

With ``sample = clip((epoch - start) / (end - start), 0, 1)``,
``lowest = max(0, min(initial, target))`` and ``highest = max(initial, target)``:

- linear: ``min(highest, max(lowest, initial + sample * (target - initial)))``;
- exponential: ``initial * (target / initial) ** sample``, clamped the same way.

Differences from the reference (deliberate): integer numbers work, and an exponential
schedule with a negative value raises a ``ValueError`` (the reference computes complex
numbers and fails later with a ``TypeError``).
"""

from __future__ import annotations

from collections.abc import Callable
import math
import numbers
from typing import Any

from interop.scheduling._core import core_value

ScheduleFn = Callable[..., float]


def _numbers(schedule: Any) -> tuple[float, float, float, float]:
    return (float(schedule.start_epoch), float(schedule.end_epoch),
            float(schedule.initial_value), float(schedule.target_value))


def check_real(caller: str, what: str, value: Any) -> None:
    """``value`` must be a finite real number (not a bool).

    Raises:
        TypeError: not a real number; the message names ``caller`` and ``what``.
        ValueError: NaN or an infinity.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{caller}: {what} must be a real number, got "
                        f"{type(value).__name__}: {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"{caller}: {what} must be finite, got {value!r}.")


def check_epoch(caller: str, epoch: Any) -> None:
    """``epoch`` must be a finite real number (an int or a float, not a bool).

    Raises:
        TypeError: not a real number.
        ValueError: NaN or an infinity.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Real):
        raise TypeError(f"{caller}: epoch must be a real number, got "
                        f"{type(epoch).__name__}: {epoch!r}.")
    if not math.isfinite(epoch):
        raise ValueError(f"{caller}: epoch must be finite, got epoch={epoch!r}.")


def check_exponential_values(initial: float, target: float) -> None:
    """Rejects negative values for an exponential schedule (defect D4 of the reference).

    Raises:
        ValueError: ``initial`` or ``target`` is negative.
    """
    if initial < 0 or target < 0:
        raise ValueError(
            "an 'exponential' schedule requires initial_value >= 0 and target_value >= 0 "
            f"(a negative value has no real geometric ramp), got initial_value={initial!r}, "
            f"target_value={target!r}. Use 'linear' for negative values.")


class ScheduleDefs:
    """The built-in schedule functions, ``(schedule, epoch, **kwargs) -> float``."""

    @staticmethod
    def linear(schedule: Any, epoch: float) -> float:
        """Linear ramp from ``initial_value`` to ``target_value``, clamped.

        ``initial + sample * (target - initial)`` with
        ``sample = clip((epoch - start_epoch) / (end_epoch - start_epoch), 0, 1)``, then
        ``min(highest, max(lowest, value))`` with ``lowest = max(0, min(initial, target))``
        and ``highest = max(initial, target)``.

        Args:
            schedule: an interop ``Schedule`` (shifted epochs).
            epoch: the epoch to evaluate at.

        Returns:
            The value at ``epoch``.

        Raises:
            ValueError: ``end_epoch <= start_epoch`` or non-finite numbers or epoch.
            TypeError: an epoch that is not a real number.

        Examples:
            >>> from interop.scheduling.data import Schedule
            >>> s = Schedule(end_epoch=10, target_value=0.0)
            >>> round(ScheduleDefs.linear(s, 0), 6)
            0.9
        """
        check_epoch("ScheduleDefs.linear", epoch)
        return core_value("linear", *_numbers(schedule), float(epoch))

    @staticmethod
    def exponential(schedule: Any, epoch: float, epsilon: float = 1e-9,
                    allow_zero_weights: bool = True, silent: bool = False) -> float:
        """Geometric ramp ``initial * (target / initial) ** sample``, clamped like linear.

        If ``initial`` or ``target`` is 0: with ``allow_zero_weights`` both are raised to
        at least ``epsilon`` first (the decay stops just above 0); otherwise with
        ``silent`` the value is ``target if sample >= 1 else initial``; otherwise the
        ramp is undefined.

        Args:
            schedule: an interop ``Schedule`` (shifted epochs).
            epoch: the epoch to evaluate at.
            epsilon: the floor for the values when one of them is 0.
            allow_zero_weights: raise zero values to ``epsilon``.
            silent: with ``allow_zero_weights=False``, step instead of failing.

        Returns:
            The value at ``epoch``.

        Raises:
            ValueError: a negative value, ``end_epoch <= start_epoch``, non-finite
                numbers or epoch, or an ``epsilon`` that is not positive.
            TypeError: an epoch that is not a real number, or switches that are not bools.
            ZeroDivisionError: a zero value with ``allow_zero_weights=False`` and
                ``silent=False`` (as the reference).

        Examples:
            >>> from interop.scheduling.data import Schedule
            >>> s = Schedule(schedule='exponential', end_epoch=10, target_value=0.0)
            >>> round(ScheduleDefs.exponential(s, 0), 5)
            0.12589
        """
        check_epoch("ScheduleDefs.exponential", epoch)
        start, end, initial, target = _numbers(schedule)
        check_exponential_values(initial, target)
        if (initial == 0 or target == 0) and not allow_zero_weights and not silent:
            raise ZeroDivisionError(
                "an 'exponential' schedule cannot start or end at 0 with "
                "allow_zero_weights=False and silent=False, got "
                f"initial_value={schedule.initial_value!r}, "
                f"target_value={schedule.target_value!r}.")
        options = (("allow_zero_weights", bool(allow_zero_weights)),
                   ("epsilon", float(epsilon)), ("silent", bool(silent)))
        return core_value("exponential", start, end, initial, target, float(epoch), options)


schedule_map: dict[str, ScheduleFn] = {
    "linear": ScheduleDefs.linear,
    "exponential": ScheduleDefs.exponential,
}
