"""Host side of the GAN health checks: the events of a reporting window, as text and
warnings (``GANHealthWarning``).

``health_report`` reads a ``HealthChecks`` state on concrete values (one device read)
and never changes it (``HealthChecks.report``); the manager starts the next window
(``LossManager.drain_health``, ``LossManager.flush``).
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
from typing import TYPE_CHECKING
import warnings

import numpy as np

from nectargan_jax.health import _layout as h

if TYPE_CHECKING:
    from nectargan_jax.health._monitor import HealthChecks


class GANHealthWarning(UserWarning):
    """A GAN health check fired (discriminator collapse, a non-finite loss or a weight at
    its clamp); the message names the loss, the step and the event."""


@dataclasses.dataclass(frozen=True)
class HealthEvent:
    """One check that fired in a reporting window, for one loss (or the collapse pair).

    Attributes:
      kind: ``'collapse'``, ``'non_finite'`` or ``'clamped'``.
      losses: the loss, or the collapse pair ``(real, fake)``.
      count: steps flagged in the window (for a collapse, steps at or past ``patience``
        consecutive steps below ``threshold``).
      first_step: the loss's record index (from 0) at the first flagged step of the
        window; for a collapse the ``patience``-th consecutive step.
      first_epoch: the epoch passed with that step.
      member: the manager's index in a batch of managers (``()`` for one manager).
      started: collapse only: runs that reached ``patience`` in the window (0 when the
        window continues a collapse reported before).
      run: collapse only: consecutive steps below ``threshold`` at the end of the window
        (0 once it recovered).
      threshold, patience: collapse only: the check's settings.
    """

    kind: str
    losses: tuple[str, ...]
    count: int
    first_step: int
    first_epoch: float
    member: tuple[int, ...] = ()
    started: int = 0
    run: int = 0
    threshold: float = float("nan")
    patience: int = 0

    def __str__(self) -> str:
        where = f"manager {self.member}: " if self.member else ""
        when = f"step {self.first_step} (epoch {self.first_epoch:g})"
        window = f"{self.count} step{'s' if self.count != 1 else ''} since the last report"
        if self.kind == "non_finite":
            return (f"{where}loss {self.losses[0]!r} was non-finite (NaN or infinite) at "
                    f"{window}, first at {when}.")
        if self.kind == "clamped":
            return (f"{where}the weight of loss {self.losses[0]!r} sat at its rule's clamp "
                    f"at {window}, first at {when}.")
        real, fake = self.losses
        head = "discriminator collapse" if self.started else "discriminator collapse continues"
        end = (f"; still collapsed at the end (a run of {self.run} steps)"
               if self.run >= self.patience else "; recovered since")
        return (f"{where}{head}: {real!r} and {fake!r} both below {self.threshold:g} for "
                f"{self.patience} consecutive steps, flagged at {window}, first at "
                f"{when}{end}.")


@dataclasses.dataclass(frozen=True)
class HealthReport:
    """The events of one reporting window (empty when every check stayed quiet).

    ``bool(report)`` says whether anything fired; ``str(report)`` is one line per event;
    ``report.warn()`` issues one ``GANHealthWarning`` per event.
    """

    events: tuple[HealthEvent, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.events)

    def __str__(self) -> str:
        if not self.events:
            return "GAN health: no check fired."
        return "\n".join(f"GAN health: {event}" for event in self.events)

    def warn(self, stacklevel: int = 2) -> None:
        """Issues one ``GANHealthWarning`` per event (nothing for an empty report)."""
        for event in self.events:
            warnings.warn(str(event), GANHealthWarning, stacklevel=stacklevel + 1)


def health_report(health: HealthChecks, names: Sequence[str]) -> HealthReport:
    """The events recorded in ``health`` since its window started.

    Args:
      health: a manager's ``HealthChecks`` (possibly with leading batch axes).
      names: the manager's loss names, one per row.

    Returns:
      A ``HealthReport``: per manager of a batch, the collapse event (if any), then per
      loss in registration order its non-finite and clamped events.
    """
    per_loss = np.asarray(health.per_loss)
    per_loss_epoch = np.asarray(health.per_loss_epoch)
    pair, pair_epoch = np.asarray(health.pair), np.asarray(health.pair_epoch)
    threshold, patience = np.asarray(health.threshold), np.asarray(health.patience)
    batch = pair.shape[:-1]
    events = []
    for member in np.ndindex(batch):
        label = member if batch else ()
        p = pair[member]
        if health.collapse is not None and p[h.COLLAPSED_COUNT] > 0:
            events.append(HealthEvent(
                "collapse", health.collapse, int(p[h.COLLAPSED_COUNT]),
                int(p[h.COLLAPSED_STEP]), float(pair_epoch[member]), label,
                started=int(p[h.COLLAPSES_STARTED]), run=int(p[h.RUN]),
                threshold=float(np.broadcast_to(threshold, batch)[member]),
                patience=int(np.broadcast_to(patience, batch)[member])))
        rows, epochs = per_loss[member], per_loss_epoch[member]
        for i, name in enumerate(names):
            for kind, count, step, epoch in (
                    ("non_finite", h.NON_FINITE_COUNT, h.NON_FINITE_STEP, h.NON_FINITE_EPOCH),
                    ("clamped", h.CLAMPED_COUNT, h.CLAMPED_STEP, h.CLAMPED_EPOCH)):
                if rows[i, count] > 0:
                    events.append(HealthEvent(kind, (name,), int(rows[i, count]),
                                              int(rows[i, step]), float(epochs[i, epoch]),
                                              label))
    return HealthReport(tuple(events))
