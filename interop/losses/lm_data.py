"""``LMHistory`` and ``LMLoss``: the records a LossManager keeps per loss."""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
from typing import Any

import torch

from interop.scheduling.data import Schedule, is_default
from interop.scheduling.schedules import check_real


@dataclasses.dataclass
class LMHistory:
    """The buffered values of one loss since the last write to the log.

    Args:
        losses: the mean weighted loss of each call (a new empty list if omitted).
        weights: the weight applied at each call (the reference records the constant
            ``loss_weight`` instead; defect D2); a new empty list if omitted.

    Examples:
        >>> LMHistory()
        LMHistory(losses=[], weights=[])
    """

    losses: list[float] = dataclasses.field(default_factory=list)
    weights: list[float] = dataclasses.field(default_factory=list)


def check_loss_fields(caller: str, name: Any, function: Any, loss_weight: Any,
                      schedule: Any, tags: Any, labels: tuple[str, str] = ("name", "function")
                      ) -> None:
    """Validates what registering a loss takes; messages name ``caller`` and the loss.

    Args:
        caller: ``'LMLoss'`` or ``'register_loss_fn'``.
        name, function, loss_weight, schedule, tags: the loss's fields.
        labels: the caller's names for ``name`` and ``function``.

    Raises:
        TypeError: a name that is not a string, a function that is not callable, a
            weight that is not a real number, a schedule that is not an interop
            ``Schedule`` (nor None), tags that are not a list of strings (a string
            included: the reference would store its characters as tags).
        ValueError: an empty name, or a weight that is not finite.
    """
    name_label, function_label = labels
    if not isinstance(name, str):
        raise TypeError(f"{caller}: {name_label} must be a non-empty string, got "
                        f"{type(name).__name__}: {name!r}.")
    if not name:
        raise ValueError(f"{caller}: {name_label} must be a non-empty string, got ''.")
    if not callable(function):
        raise TypeError(f"{caller}: {function_label} of {name!r} must be callable "
                        f"(x, y) -> torch.Tensor, got {type(function).__name__}: {function!r}.")
    check_real(caller, f"loss_weight of {name!r}", loss_weight)
    if schedule is not None and not isinstance(schedule, Schedule):
        raise TypeError(f"{caller}: schedule of {name!r} must be an interop Schedule or None, "
                        f"got {type(schedule).__name__}: {schedule!r}.")
    if tags is not None and (not isinstance(tags, (list, tuple))
                             or not all(isinstance(t, str) for t in tags)):
        hint = f" (did you mean [{tags!r}]?)" if isinstance(tags, str) else ""
        raise TypeError(f"{caller}: tags of {name!r} must be a list of strings, got "
                        f"{type(tags).__name__}: {tags!r}{hint}.")


def _empty_tensor() -> torch.Tensor:
    return torch.empty(0)


@dataclasses.dataclass(eq=False)
class LMLoss:
    """One registered loss: its function, weight or schedule, latest map, history, tags.

    After construction every LMLoss is weighted by ``schedule.current_value``: if its
    schedule is default (``schedule == Schedule()``), ``schedule.current_value`` is set to
    ``loss_weight``; otherwise ``loss_weight`` is replaced by ``schedule.initial_value``.

    Args:
        name: the loss's name.
        function: a callable ``(x, y) -> torch.Tensor``, usually an ``nn.Module``.
        loss_weight: the constant weight of an unscheduled loss.
        schedule: the weight schedule (a new default ``Schedule`` if omitted).
        last_loss_map: the latest weighted loss, detached, on the CPU.
        history: the buffered values (a new empty ``LMHistory`` if omitted).
        tags: tags for the LossManager's queries (a new list if omitted).

    Raises:
        TypeError, ValueError: see ``check_loss_fields``.

    Examples:
        >>> import torch
        >>> loss = LMLoss('l1', torch.nn.L1Loss(), loss_weight=100.0)
        >>> loss.schedule.current_value
        100.0
        >>> LMLoss('l1', torch.nn.L1Loss(), 5.0, Schedule(end_epoch=10)).loss_weight
        1.0
    """

    name: str
    function: Callable[..., torch.Tensor]
    loss_weight: float = 1.0
    schedule: Schedule = dataclasses.field(default_factory=Schedule)
    last_loss_map: torch.Tensor = dataclasses.field(default_factory=_empty_tensor)
    history: LMHistory = dataclasses.field(default_factory=LMHistory)
    tags: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        check_loss_fields("LMLoss", self.name, self.function, self.loss_weight, self.schedule,
                          self.tags)
        if is_default(self.schedule):
            self.schedule.current_value = self.loss_weight
        else:
            self.loss_weight = self.schedule.initial_value
