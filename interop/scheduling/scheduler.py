"""``Scheduler``: evaluates a ``Schedule`` as a multiplier in [0, 1].

Difference (deliberate): the reference asserts that the value is a Python float, so
integer ``initial_value``/``target_value`` fail there; they work here.
"""

from __future__ import annotations

from interop.scheduling.data import Schedule, is_default
from interop.scheduling.schedules import ScheduleFn, check_epoch, schedule_map


class Scheduler:
    """Evaluates a Schedule and normalises the value by ``max(initial, target)``.

    The schedule function is resolved once, at construction.

    Args:
        schedule: the Schedule to evaluate; ``eval_schedule`` writes the raw value back
            into its ``current_value``.

    Attributes:
        schedule: the Schedule given.
        schedule_fn: the resolved schedule function.
        max_value: ``max(schedule.initial_value, schedule.target_value)``.

    Raises:
        TypeError: ``schedule`` is not an interop ``Schedule``, or ``schedule.schedule``
            is neither a callable nor a ``schedule_map`` key.
        ValueError: a schedule other than the default with ``initial_value`` and
            ``target_value`` both 0 (the reference divides by zero at the first
            ``eval_schedule``).

    Examples:
        >>> s = Schedule(start_epoch=1, end_epoch=11, initial_value=2.0, target_value=0.0)
        >>> Scheduler(s).eval_schedule(5)
        0.5
        >>> s.current_value
        1.0
    """

    def __init__(self, schedule: Schedule) -> None:
        if not isinstance(schedule, Schedule):
            raise TypeError(f"{type(self).__name__}: schedule must be an interop Schedule, "
                            f"got {type(schedule).__name__}: {schedule!r}.")
        self.schedule = schedule
        fn = schedule.schedule
        if callable(fn):
            self.schedule_fn: ScheduleFn = fn
        elif isinstance(fn, str) and fn in schedule_map:
            self.schedule_fn = schedule_map[fn]
        else:
            raise TypeError(
                f"Invalid schedule type: {type(fn).__name__} ({fn!r}). Valid types are a "
                f"name in schedule_map ({', '.join(map(repr, schedule_map))}) or a callable "
                "(schedule, epoch, **kwargs) -> float.")
        self.max_value = max(schedule.initial_value, schedule.target_value)
        if self.max_value == 0 and not is_default(schedule):
            raise ValueError(
                f"{type(self).__name__}: eval_schedule divides by max(initial_value, "
                f"target_value), which is 0 for initial_value={schedule.initial_value!r} "
                f"and target_value={schedule.target_value!r}; give one of them a positive "
                "value.")

    def eval_schedule(self, epoch: int) -> float:
        """The schedule's multiplier at ``epoch`` (the form ``LambdaLR`` wants).

        A default schedule (``schedule == Schedule()``) returns ``current_value`` as is.
        Otherwise ``current_value`` is set to the schedule function's value at ``epoch``
        and ``current_value / max_value`` is returned.

        Args:
            epoch: the epoch (``LambdaLR`` passes its step count).

        Returns:
            The multiplier.

        Raises:
            TypeError, ValueError: ``epoch`` is not a finite real number.
        """
        check_epoch("eval_schedule", epoch)
        s = self.schedule
        if is_default(s):
            return s.current_value
        s.current_value = self.schedule_fn(s, epoch)
        return s.current_value / self.max_value
