"""``LMHistory`` and ``LMLoss``: the records a LossManager keeps per loss."""

from __future__ import annotations

from collections.abc import Callable
import dataclasses

import torch

from interop.scheduling.data import Schedule, is_default


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
        if is_default(self.schedule):
            self.schedule.current_value = self.loss_weight
        else:
            self.loss_weight = self.schedule.initial_value
