"""``TorchScheduler``: a Schedule driving a PyTorch optimizer's learning rate.

Difference (deliberate): the default schedule is a new ``Schedule()`` instance per
scheduler (the reference's default is the ``Schedule`` class itself).
"""

from __future__ import annotations

import torch

from interop.scheduling.data import Schedule
from interop.scheduling.scheduler import Scheduler


class TorchScheduler(Scheduler):
    """A ``Scheduler`` whose ``eval_schedule`` is a ``LambdaLR``'s ``lr_lambda``.

    The learning rate of ``optimizer.param_groups[0]`` (``scheduler.get_last_lr()[0]``)
    is kept before and after each ``step()``; ``get_lr()`` returns both. The reference's
    pix2pix trainer builds it with ``Schedule(start_epoch=epochs, end_epoch=1 + epochs +
    epochs_decay, initial_value=lr, target_value=lr_target)`` and calls ``step()`` once
    per epoch.

    Args:
        optimizer: the optimizer whose learning rates are scaled by the schedule's
            multiplier (``base_lr * eval_schedule(step_count)``).
        schedule: the Schedule; ``None`` gives a new default ``Schedule()`` (constant).

    Raises:
        TypeError: ``optimizer`` is not a torch optimizer, or ``schedule`` is neither an
            interop ``Schedule`` nor None.
        ValueError: see ``Scheduler`` (both values 0).

    Attributes:
        scheduler: the ``torch.optim.lr_scheduler.LambdaLR``.
        schedule: the Schedule (see ``Scheduler``).

    Examples:
        >>> optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1.0)
        >>> scheduler = TorchScheduler(optimizer, Schedule(
        ...     start_epoch=1, end_epoch=3, initial_value=1.0, target_value=0.0))
        >>> optimizer.step()
        >>> scheduler.step()
        >>> scheduler.get_lr()
        (1.0, 0.5)
        >>> scheduler.scheduler.get_last_lr()
        [0.5]
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Schedule | None = None) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"TorchScheduler: optimizer must be a torch.optim.Optimizer, got "
                            f"{type(optimizer).__name__}: {optimizer!r}.")
        if schedule is not None and not isinstance(schedule, Schedule):
            raise TypeError(f"TorchScheduler: schedule must be an interop Schedule or None, "
                            f"got {type(schedule).__name__}: {schedule!r}.")
        super().__init__(Schedule() if schedule is None else schedule)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lr_lambda=self.eval_schedule)
        lr = self.scheduler.get_last_lr()[0]
        self._lrs = (lr, lr)

    def step(self) -> None:
        """Steps the ``LambdaLR``, keeping the lr before and after it."""
        before = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        self._lrs = (before, self.scheduler.get_last_lr()[0])

    def get_lr(self) -> tuple[float, float]:
        """``(lr before the last step(), lr now)`` of param group 0.

        Before any ``step()`` both are the lr set when the scheduler was built.
        """
        return self._lrs
