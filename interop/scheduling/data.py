"""``Schedule``: the reference's mutable schedule record, with its conventions.

Conventions kept from the reference:

- If any field differs from its default, ``current_value`` is set to ``initial_value``
  and ``start_epoch`` and ``end_epoch`` are each decreased by 1 (the reference's trainers
  count epochs from 1). An all-default Schedule is left untouched.
- ``a == b`` compares only ``start_epoch`` and ``end_epoch``. "Default" means
  ``s == Schedule()``, i.e. start 0 and end 10,000,000 after the shift, so
  ``Schedule(start_epoch=1, end_epoch=10_000_001, initial_value=5.0)`` counts as default.

Differences (deliberate, defects of the reference): ``end_epoch <= start_epoch`` (D3) and
an exponential schedule with a negative value (D4) raise a ``ValueError`` here, at
construction.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from interop.scheduling.schedules import ScheduleDefs, ScheduleFn, check_exponential_values
from interop.scheduling.schedules import schedule_map

DEFAULT_END_EPOCH = 10_000_000


@dataclasses.dataclass(eq=False)
class Schedule:
    """A loss-weight or learning-rate schedule, as the reference defines it.

    Args:
        schedule: a name from ``schedule_map`` or a callable
            ``(schedule, epoch, **kwargs) -> float``.
        start_epoch: the first epoch of the ramp, counted from 1 (stored minus 1).
        end_epoch: the last epoch of the ramp, counted from 1 (stored minus 1).
        initial_value: the value up to ``start_epoch``.
        target_value: the value from ``end_epoch`` on.
        current_value: the latest value; set to ``initial_value`` unless all fields are
            defaults, then updated by whoever evaluates the schedule.

    Attributes:
        NO_ARG: a sentinel (``object()``), as in the reference: a default that tells
            "no argument given" apart from any value, None included.

    Raises:
        ValueError: ``end_epoch <= start_epoch``, or an exponential schedule with a
            negative value.

    Examples:
        >>> s = Schedule(start_epoch=100, end_epoch=200, initial_value=2.0)
        >>> (s.start_epoch, s.end_epoch, s.current_value)
        (99, 199, 2.0)
        >>> Schedule(start_epoch=1, end_epoch=10_000_001) == Schedule()
        True
    """

    NO_ARG: ClassVar[object] = object()

    schedule: str | ScheduleFn = "linear"
    start_epoch: int = 0
    end_epoch: int = DEFAULT_END_EPOCH
    initial_value: float = 1.0
    target_value: float = 1.0
    current_value: float = 1.0

    def __post_init__(self) -> None:
        if any(getattr(self, f.name) != f.default for f in dataclasses.fields(self)):
            self.current_value = self.initial_value
            self.start_epoch -= 1
            self.end_epoch -= 1
        self._validate()

    def _validate(self) -> None:
        if self.end_epoch <= self.start_epoch:
            raise ValueError(
                "Schedule requires end_epoch > start_epoch, got "
                f"start_epoch={self.start_epoch + 1!r}, end_epoch={self.end_epoch + 1!r}.")
        fn = schedule_map.get(self.schedule) if isinstance(self.schedule, str) \
            else self.schedule
        if fn is ScheduleDefs.exponential:
            check_exponential_values(self.initial_value, self.target_value)

    def __eq__(self, other: Any) -> bool:
        """Compares ``start_epoch`` and ``end_epoch`` only, as the reference does."""
        if not isinstance(other, Schedule):
            return NotImplemented
        return self.start_epoch == other.start_epoch and self.end_epoch == other.end_epoch



def is_default(schedule: Schedule) -> bool:
    """``schedule == Schedule()`` without building a Schedule (the hot path's test)."""
    return schedule.start_epoch == 0 and schedule.end_epoch == DEFAULT_END_EPOCH
