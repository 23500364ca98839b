"""``TorchScheduler``: a Schedule driving a PyTorch optimizer's learning rate.

Difference (deliberate): the default schedule is a new ``Schedule()`` instance per
scheduler (the reference's default is the ``Schedule`` class itself).
"""

from __future__ import annotations

import torch

from interop.scheduling.data import Schedule
from interop.scheduling.scheduler import Scheduler


class TorchScheduler:
    """``LambdaLR(optimizer, lr_lambda=Scheduler(schedule).eval_schedule)``, with lr records.

    The learning rate of ``optimizer.param_groups[0]`` is kept before and after each
    ``step()``; ``get_lr()`` returns both. The reference's pix2pix trainer builds it with
    ``Schedule(start_epoch=epochs, end_epoch=1 + epochs + epochs_decay, initial_value=lr,
    target_value=lr_target)`` and calls ``step()`` once per epoch.

    Args:
        optimizer: the optimizer whose learning rates are scaled by the schedule's
            multiplier (``base_lr * eval_schedule(step_count)``).
        schedule: the Schedule; ``None`` gives a new default ``Schedule()`` (constant).

    Attributes:
        scheduler: the ``Scheduler`` evaluating the schedule.
        lr_scheduler: the underlying ``torch.optim.lr_scheduler.LambdaLR``.

    Examples:
        >>> optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1.0)
        >>> scheduler = TorchScheduler(optimizer, Schedule(
        ...     start_epoch=1, end_epoch=3, initial_value=1.0, target_value=0.0))
        >>> optimizer.step()
        >>> scheduler.step()
        >>> scheduler.get_lr()
        (1.0, 0.5)
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Schedule | None = None) -> None:
        self.optimizer = optimizer
        self.scheduler = Scheduler(Schedule() if schedule is None else schedule)
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lr_lambda=self.scheduler.eval_schedule)
        lr = self._current_lr()
        self._lrs = (lr, lr)

    def _current_lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def step(self) -> None:
        """Advances the LambdaLR by one step, keeping the lr before and after it."""
        before = self._current_lr()
        self.lr_scheduler.step()
        self._lrs = (before, self._current_lr())

    def get_lr(self) -> tuple[float, float]:
        """``(lr before the last step(), lr now)`` of param group 0.

        Before any ``step()`` both are the lr set when the scheduler was built.
        """
        return self._lrs
