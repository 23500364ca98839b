"""GAN health checks kept on the device: discriminator collapse, non-finite losses and
weights at a clamp, flagged inside the step with no host transfer.

``HealthChecks`` is opt-in (``LossManager(health=HealthChecks(...))``): a *monitor*, the
manager's generic slot for per-call checks. Its structure (the collapse pair, which
checks are on) is static; its numbers (threshold, patience) and its state (counters,
first steps and epochs of each event since the last report) are fixed-shape array
leaves, updated by ``update`` inside the manager's step with jnp only. The host reads the
state with ``report`` when the log is flushed and starts a new reporting window
(``new_window``).

A *step* here is a loss's record index: the number of records the loss had before the
call (``history.total``, from 0), the step a weight rule sees. For a pair computed
together, the pair's step is the smaller of the two, as for a rule over both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nectargan_jax._checks import check_bool, count_leaf, number_leaf, saturating_add
from nectargan_jax._pytree import owned, pytree_dataclass, static_field
from nectargan_jax.health._layout import (CLAMPED_COUNT, CLAMPED_EPOCH, CLAMPED_STEP,
                                          COLLAPSED_COUNT, COLLAPSED_STEP, COLLAPSES_STARTED,
                                          NON_FINITE_COUNT, NON_FINITE_EPOCH, NON_FINITE_STEP,
                                          RUN)
from nectargan_jax.health._report import HealthReport, health_report


def _check_pair(collapse: Any) -> tuple[str, str] | None:
    if collapse is None:
        return None
    if isinstance(collapse, str) or not isinstance(collapse, (tuple, list)) \
            or len(collapse) != 2 or not all(isinstance(n, str) for n in collapse):
        raise TypeError("collapse must be None or a pair of loss names "
                        f"(discriminator real, fake), e.g. ('D_real', 'D_fake'), got "
                        f"{collapse!r}.")
    if collapse[0] == collapse[1]:
        raise ValueError(f"collapse must name two different losses, got "
                         f"{tuple(collapse)!r}.")
    return tuple(collapse)


@pytree_dataclass
class HealthChecks:
    """Opt-in GAN health flags, recorded with the losses inside the step.

    Checks (each counted per reporting window, with its first step and epoch):

    * discriminator collapse: the two losses of ``collapse`` (the discriminator's loss
      on real and on fake samples, computed in the same call) are both below
      ``threshold`` for ``patience`` consecutive calls. The flag goes up at the
      ``patience``-th such call and stays up while the run lasts; the run continues
      across reports.
    * non-finite loss: a recorded (weighted) loss is NaN or infinite.
    * clamped weight: a weight rule over a loss sits at its clamp (e.g. ``clip``'s bound,
      ``adaptive_last_layer``'s maximum).

    The losses compared are the recorded ones, i.e. weighted (pix2pix's ``D_real`` and
    ``D_fake`` have weight 1). The state (``per_loss``, ...) is filled in by the
    manager; build an object with the configuration only.

    Args:
      collapse: ``(real_loss_name, fake_loss_name)``, or None for no collapse check.
      threshold: a loss below it counts as won by the discriminator (any finite real;
        0.05 is a BCE of a discriminator about 95% sure on average).
      patience: consecutive calls below ``threshold`` that make a collapse (>= 1).
      non_finite: flag NaN and infinite losses.
      clamped: flag weights at a rule's clamp.

    Raises:
      TypeError: a collapse that is not a pair of names, a threshold that is not a real
        number, a patience that is not an int, a flag that is not a bool.
      ValueError: a pair naming one loss twice, a non-finite threshold, a patience
        below 1, or every check off (pass ``health=None`` instead).

    Examples:
      >>> HealthChecks(collapse=('D_real', 'D_fake'), threshold=0.05, patience=100)
      HealthChecks(collapse=('D_real', 'D_fake'), threshold=0.05, patience=100, non_finite=True, clamped=True)
    """

    collapse: tuple[str, str] | None = static_field(default=None)
    threshold: jax.Array = 0.05  # shape=(), dtype=float32
    patience: jax.Array = 100  # shape=(), dtype=int32
    non_finite: bool = static_field(default=True)
    clamped: bool = static_field(default=True)
    per_loss: jax.Array | None = None  # shape=(n, 4), dtype=int32: see the columns above
    per_loss_epoch: jax.Array | None = None  # shape=(n, 2), dtype=float32
    pair: jax.Array | None = None  # shape=(4,), dtype=int32
    pair_epoch: jax.Array | None = None  # shape=(), dtype=float32

    def __post_init__(self):
        if self.per_loss is not None:  # built by the manager from a checked object
            return
        try:
            object.__setattr__(self, "collapse", _check_pair(self.collapse))
            object.__setattr__(self, "non_finite", check_bool("non_finite", self.non_finite))
            object.__setattr__(self, "clamped", check_bool("clamped", self.clamped))
            threshold = number_leaf("threshold", self.threshold)
            patience = count_leaf("patience", self.patience)
        except (TypeError, ValueError) as error:
            raise type(error)(f"HealthChecks: {error}") from None
        if threshold.ndim:
            raise ValueError(f"HealthChecks: threshold must be a scalar, got shape "
                             f"{threshold.shape}.")
        object.__setattr__(self, "threshold", threshold.astype(jnp.float32))
        object.__setattr__(self, "patience", patience)
        if self.collapse is None and not self.non_finite and not self.clamped:
            raise ValueError("HealthChecks: every check is off (collapse=None, "
                             "non_finite=False, clamped=False); pass health=None to the "
                             "LossManager instead.")

    def __repr__(self) -> str:
        settings = ""
        if np.ndim(self.threshold) == 0 and not isinstance(self.threshold, jax.core.Tracer):
            settings = (f", threshold={float(self.threshold):.4g}, "
                        f"patience={int(self.patience)}")
        return (f"HealthChecks(collapse={self.collapse!r}{settings}, "
                f"non_finite={self.non_finite}, clamped={self.clamped})")

    # State ---------------------------------------------------------------------------

    def sized(self, n: int) -> HealthChecks:
        """This object with state for ``n`` losses: rows added for newly registered
        losses (kept for the others), or a fresh state if it had none or more rows.

        A fresh state comes with copies of the numbers, so that a manager owns its
        buffers: donating it never deletes the arrays of the caller's object (shared
        by several managers, say)."""
        if self.per_loss is not None and self.per_loss.shape[-2] == n:
            return self
        fresh = _fresh_rows(n)
        if self.per_loss is None or self.per_loss.shape[-2] > n:
            threshold, patience = owned((self.threshold, self.patience))
            return self.replace(threshold=threshold, patience=patience,
                                per_loss=fresh[0], per_loss_epoch=fresh[1],
                                pair=jnp.asarray([0, 0, -1, 0], jnp.int32),
                                pair_epoch=jnp.full((), jnp.nan, jnp.float32))
        have = self.per_loss.shape[-2]
        return self.replace(
            per_loss=jnp.concatenate([self.per_loss, fresh[0][have:]]),
            per_loss_epoch=jnp.concatenate([self.per_loss_epoch, fresh[1][have:]]))

    def new_window(self) -> HealthChecks:
        """The same checks with the window's events cleared (a collapse run goes on).

        Written over the current arrays, so they keep their placement (sharding)."""
        per_loss, per_loss_epoch = _fresh_rows(self.per_loss.shape[-2])
        events = jnp.asarray([0, -1, 0], jnp.int32)
        return self.replace(
            per_loss=self.per_loss.at[...].set(per_loss),
            per_loss_epoch=self.per_loss_epoch.at[...].set(per_loss_epoch),
            pair=self.pair.at[..., RUN + 1:].set(events),
            pair_epoch=self.pair_epoch.at[...].set(jnp.nan))

    def report(self, names: Sequence[str]) -> HealthReport:
        """The events of the window so far (host side: reads the state, changes nothing).

        Args:
          names: the manager's loss names, one per row.
        """
        return health_report(self, names)

    # Inside the step -----------------------------------------------------------------

    def update(self, names: Sequence[str], rows: Sequence[int], values: jax.Array,
               clamped: jax.Array, steps: jax.Array, epoch: jax.Array) -> HealthChecks:
        """The state after one call of the manager (pure jnp, no host transfer).

        Args:
          names: every registered loss name (static).
          rows: the rows evaluated this call, increasing (static).
          values: ``shape=(len(rows),)``: the recorded (weighted) losses.
          clamped: ``shape=(len(rows),), dtype=bool``: a rule's weight at its clamp.
          steps: ``shape=(n,), dtype=int32``: records per loss before this call.
          epoch: the call's epoch (a scalar).

        Raises:
          KeyError: a collapse name that is not a registered loss.
          ValueError: only one loss of the collapse pair is computed in this call.
        """
        at = np.asarray(rows)
        values = values.astype(jnp.float32)
        step = steps[at]
        epoch = jnp.asarray(epoch, jnp.float32)
        per_loss, per_loss_epoch = self.per_loss, self.per_loss_epoch
        if self.non_finite:
            per_loss, per_loss_epoch = _mark(per_loss, per_loss_epoch, at,
                                             ~jnp.isfinite(values), step, epoch,
                                             NON_FINITE_COUNT, NON_FINITE_STEP,
                                             NON_FINITE_EPOCH)
        if self.clamped:
            per_loss, per_loss_epoch = _mark(per_loss, per_loss_epoch, at, clamped, step,
                                             epoch, CLAMPED_COUNT, CLAMPED_STEP,
                                             CLAMPED_EPOCH)
        pair, pair_epoch = self.pair, self.pair_epoch
        if self.collapse is not None:
            pair, pair_epoch = self._collapse(names, rows, values, steps, epoch)
        return self.replace(per_loss=per_loss, per_loss_epoch=per_loss_epoch, pair=pair,
                            pair_epoch=pair_epoch)

    def _collapse(self, names: Sequence[str], rows: Sequence[int], values: jax.Array,
                  steps: jax.Array, epoch: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The collapse run and events after this call (unchanged if the pair is not in
        it)."""
        members = []
        for name in self.collapse:
            if name not in names:
                raise KeyError(f"HealthChecks: collapse names loss {name!r}, which is not "
                               f"registered; registered losses: {list(names)}.")
            members.append(names.index(name))
        present = [i in rows for i in members]
        if not any(present):
            return self.pair, self.pair_epoch
        if not all(present):
            raise ValueError(f"HealthChecks: the collapse pair {list(self.collapse)} must be "
                             "computed in the same call; this call computes only "
                             f"{self.collapse[present.index(True)]!r}.")
        real, fake = (values[list(rows).index(i)] for i in members)
        won = (real < self.threshold) & (fake < self.threshold)
        run = jnp.where(won, _increment(self.pair[RUN], True), 0)
        flagged = run >= self.patience
        first = flagged & (self.pair[COLLAPSED_COUNT] == 0)
        step = jnp.minimum(steps[members[0]], steps[members[1]])
        pair = jnp.stack([
            run,
            _increment(self.pair[COLLAPSED_COUNT], flagged),
            jnp.where(first, step, self.pair[COLLAPSED_STEP]),
            _increment(self.pair[COLLAPSES_STARTED], run == self.patience),
        ])
        return pair, jnp.where(first, epoch, self.pair_epoch)


def _fresh_rows(n: int) -> tuple[jax.Array, jax.Array]:
    """Per-loss state of an empty window: counts 0, first steps -1, first epochs NaN."""
    per_loss = jnp.tile(jnp.asarray([[0, -1, 0, -1]], jnp.int32), (n, 1))
    return per_loss, jnp.full((n, 2), jnp.nan, jnp.float32)


def _increment(count: jax.Array, event: Any) -> jax.Array:
    """``count + 1`` where ``event``, saturating at the int32 maximum."""
    return saturating_add(count, jnp.asarray(event, jnp.int32))


def _mark(per_loss: jax.Array, per_loss_epoch: jax.Array, at: np.ndarray, event: jax.Array,
          step: jax.Array, epoch: jax.Array, count_col: int, step_col: int,
          epoch_col: int) -> tuple[jax.Array, jax.Array]:
    """Counts ``event`` for rows ``at`` and keeps the step and epoch of the first one."""
    count = per_loss[at, count_col]
    first = event & (count == 0)
    per_loss = per_loss.at[at, count_col].set(_increment(count, event))
    per_loss = per_loss.at[at, step_col].set(jnp.where(first, step, per_loss[at, step_col]))
    per_loss_epoch = per_loss_epoch.at[at, epoch_col].set(
        jnp.where(first, epoch, per_loss_epoch[at, epoch_col]))
    return per_loss, per_loss_epoch
