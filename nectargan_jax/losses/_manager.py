"""``LossManager``: registered, scheduled, weighted and recorded losses as one pytree.

Structure (names, functions, tags, options, the overflow sink) is static aux data;
weight schedules and the device-side history are leaves. Every method returns a new
manager, so a manager passes through ``jit``, ``grad(..., has_aux=True)``, ``vmap`` and
``lax.scan`` carries, and a step that computes, weights and records every loss makes no
host transfer. Host work (queries, rounding, printing, the log) happens outside the
step on concrete values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import dataclasses
from typing import Any

import jax
from jax.experimental import checkify
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from nectargan_jax._pytree import pytree_dataclass, static_field
from nectargan_jax.losses import _report
from nectargan_jax.losses._entry import LossEntry, LossFn, LossSpec
from nectargan_jax.losses._history import History, HistorySink, spill_full_rows

Records = dict[str, tuple[np.ndarray, np.ndarray]]
OVERFLOWS = ("spill", "error")


@pytree_dataclass
class LossManager:
    """An immutable collection of named losses with weights, tags and history.

    Args:
      capacity: records kept on the device per loss between two drains.
      overflow: what happens when a loss records more than ``capacity`` values between
        two drains. ``'spill'`` (default): the step hands the full row to the host in
        one callback and starts it over, so nothing is lost however long a ``lax.scan``
        runs. ``'error'``: the step holds no host callback (on XLA:CPU a program with
        one runs slower even when the callback never fires), extra values are dropped
        and the next ``drain`` raises ``OverflowError`` saying how many; pick a
        ``capacity`` of at least the steps between two drains.
      keep_history: record every value (True), or keep only the latest values
        (False, the reference's ``enable_logging=False``).
      check_finite: check every weighted loss for NaN/Inf with
        ``jax.experimental.checkify`` (wrap the jitted step in ``checkify.checkify``);
        the error names the loss and its step.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nectargan_jax.losses import LossManager, l1
      >>> lm = LossManager().register('L1', l1, weight=100.0, tags=('G',))
      >>> loss, lm = lm.compute('L1', jnp.ones((1, 3, 4, 4)), jnp.zeros((1, 3, 4, 4)))
      >>> float(loss), lm.loss_values()
      (100.0, {'L1': 100.0})
    """

    capacity: int = static_field(default=1024)
    keep_history: bool = static_field(default=True)
    check_finite: bool = static_field(default=False)
    overflow: str = static_field(default="spill")
    entries: tuple[LossEntry, ...] = ()
    history: History | None = None
    sink: HistorySink = static_field(default_factory=HistorySink)

    def __post_init__(self):
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, int) \
                or self.capacity < 1:
            raise ValueError(
                f"capacity must be a positive int, got capacity={self.capacity!r}.")
        if self.overflow not in OVERFLOWS:
            raise ValueError(
                f"overflow must be one of {OVERFLOWS}, got overflow={self.overflow!r}.")
        object.__setattr__(self, "entries", tuple(self.entries))
        if self.history is None:
            object.__setattr__(self, "history", History.empty(
                len(self.entries), self.capacity, [e.weight(0.0) for e in self.entries]))

    # Registration -------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Registered loss names, in registration order."""
        return tuple(e.name for e in self.entries)

    def index(self, name: str) -> int:
        """Row of ``name`` in the records; KeyError listing the valid names."""
        for i, entry in enumerate(self.entries):
            if entry.name == name:
                return i
        raise KeyError(f"no loss named {name!r}; registered losses: {list(self.names)}.")

    def register(self, name: str, fn: LossFn, weight: Any = 1.0,
                 tags: Sequence[str] = (), keep_map: bool = False) -> LossManager:
        """A new manager with one more loss.

        Args:
          name: unique name.
          fn: ``(x, y) -> scalar`` written with jnp.
          weight: a number or a schedule of the epoch (each loss owns its own).
          tags: tags for queries.
          keep_map: also keep the latest weighted per-element map (``fn`` must accept
            ``reduction='none'``).

        Raises:
          ValueError: ``name`` is already registered.
          TypeError: bad name, function, weight or tags.
        """
        if name in self.names:
            raise ValueError(f"a loss named {name!r} is already registered; registered "
                             f"losses: {list(self.names)}.")
        entry = LossEntry(name, fn, weight, tags, keep_map)
        return self.replace(entries=self.entries + (entry,),
                            history=self.history.append_row(entry.weight(0.0)))

    def with_spec(self, spec: Callable[..., Mapping[str, LossSpec]], *args: Any,
                  **kwargs: Any) -> LossManager:
        """A manager holding exactly the losses ``spec(*args, **kwargs)`` declares.

        Like the reference's ``init_from_spec``, the spec replaces any registered losses
        (their history starts over; drain it first to keep it).

        Raises:
          TypeError: the spec does not return a mapping of ``LossSpec``.
        """
        declared = spec(*args, **kwargs)
        if not isinstance(declared, Mapping):
            raise TypeError(f"a loss spec must return a mapping name -> LossSpec, got "
                            f"{type(declared).__name__}.")
        fresh = self.replace(entries=(), history=None, sink=HistorySink())
        for name, item in declared.items():
            if not isinstance(item, LossSpec):
                raise TypeError(f"spec entry {name!r} must be a LossSpec, got {item!r}.")
            fresh = fresh.register(name, *item)
        return fresh

    def set_weight(self, name: str, weight: Any) -> LossManager:
        """A new manager where loss ``name`` has ``weight`` (works under jit and vmap)."""
        i = self.index(name)
        entries = list(self.entries)
        entries[i] = dataclasses.replace(entries[i], weight=weight)
        return self.replace(entries=tuple(entries))

    def weight(self, name: str, epoch: ArrayLike) -> jax.Array:
        """The weight of ``name`` at ``epoch``."""
        return self.entries[self.index(name)].weight(epoch)

    # Computation (pure, jittable) -----------------------------------------------------

    def _check_pair(self, name: str, x: ArrayLike, y: ArrayLike) -> int:
        """Row of ``name``, after checking its inputs' shapes (static, so also traced)."""
        i = self.index(name)
        if jnp.shape(x) != jnp.shape(y):
            raise ValueError(f"loss {name!r}: x and y must have the same shape, got "
                             f"x.shape={jnp.shape(x)} and y.shape={jnp.shape(y)}.")
        return i

    def _evaluate(self, i: int, x: ArrayLike, y: ArrayLike, epoch: ArrayLike):
        entry = self.entries[i]
        weight = entry.weight(epoch)
        if entry.keep_map:
            loss_map = entry.fn(x, y, reduction="none") * weight
            weighted = jnp.mean(loss_map)
        else:
            loss_map = None
            weighted = entry.fn(x, y) * weight
        if self.check_finite:
            checkify.check(jnp.all(jnp.isfinite(weighted)),
                           f"non-finite value in loss {entry.name!r} at step {{step}}",
                           step=self.history.total[i])
        return weighted, weight, loss_map

    def _objective(self, inputs: dict[str, tuple[jax.Array, jax.Array]], epoch: jax.Array
                   ) -> tuple[jax.Array, dict[str, jax.Array], History]:
        """The pure body of ``compute_many``: evaluate, weight, record.

        Returns the new history only; ``compute_many`` puts it into the new manager.
        Losses are evaluated and recorded in registration order, whatever the order of
        ``inputs``, so that recording a whole objective needs no reordering.
        """
        rows = sorted(self.index(name) for name in inputs)
        values, weights, maps = {}, [], {}
        for i in rows:
            name = self.entries[i].name
            x, y = inputs[name]
            values[name], weight, loss_map = self._evaluate(i, x, y, epoch)
            weights.append(weight)
            if loss_map is not None:
                maps[name] = jax.lax.stop_gradient(loss_map)
        history = self.history.record(rows, jnp.stack(list(values.values())),
                                      jnp.stack(weights), self.keep_history)
        if maps:
            history = history.replace(maps={**history.maps, **maps})
        if self.keep_history and self.overflow == "spill":
            history = spill_full_rows(history, self.sink)
        return sum(values.values()), {name: values[name] for name in inputs}, history

    def compute(self, name: str, x: ArrayLike, y: ArrayLike,
                epoch: ArrayLike = 0) -> tuple[jax.Array, LossManager]:
        """Computes, weights and records one loss.

        Returns:
          ``(weighted_loss, new_manager)``; gradients flow through ``weighted_loss``,
          never through the records.

        Raises:
          KeyError: unknown name (the message lists the registered ones).
          ValueError: ``x`` and ``y`` shapes differ.
        """
        _, values, manager = self.compute_many({name: (x, y)}, epoch)
        return values[name], manager

    def compute_many(self, inputs: Mapping[str, tuple[ArrayLike, ArrayLike]],
                     epoch: ArrayLike = 0
                     ) -> tuple[jax.Array, dict[str, jax.Array], LossManager]:
        """Computes, weights and records several losses in one go (a whole objective).

        The work runs as one compiled call (inlined when the caller is itself jitted),
        so eager use is fast too.

        Args:
          inputs: ``{name: (x, y)}`` for each loss to compute.
          epoch: the epoch every weight is evaluated at.

        Returns:
          ``(total, {name: weighted_loss}, new_manager)``.

        Raises:
          KeyError: unknown name (the message lists the registered ones).
          ValueError: shapes of ``x`` and ``y`` differ.
        """
        inputs = {name: tuple(pair) for name, pair in inputs.items()}
        for name, (x, y) in inputs.items():
            self._check_pair(name, x, y)
        traced = any(isinstance(leaf, jax.core.Tracer)
                     for leaf in jax.tree.leaves((self, inputs, epoch)))
        if self.check_finite and not traced:
            error, (total, values, history) = _checked_objective(self, inputs, epoch)
            error.throw()
        else:
            total, values, history = _objective(self, inputs, epoch)
        return total, values, self.replace(history=history)

    # Host side ------------------------------------------------------------------------

    def drain(self) -> tuple[Records, LossManager]:
        """Everything recorded since the last drain, in order, and a manager emptied of it.

        Returns:
          ``({name: (losses, weights)}, new_manager)``: NumPy arrays whose last axis is
          the record order (leading axes are a vmapped batch of managers).

        Raises:
          OverflowError: with ``overflow='error'``, a loss recorded more than
            ``capacity`` values since the last drain (the message says how many were
            dropped).
        """
        fill = np.asarray(self.history.fill)
        dropped = fill - self.capacity
        if np.any(dropped > 0):
            name = self.names[int(np.argwhere(dropped > 0)[0][-1])]
            raise OverflowError(
                f"loss {name!r} dropped {int(dropped.max())} records: more than "
                f"capacity={self.capacity} since the last drain. Drain more often, raise "
                "capacity, or use overflow='spill'.")
        total = np.asarray(self.history.total)
        losses = np.asarray(self.history.losses)
        weights = np.asarray(self.history.weights)
        batch_shape = fill.shape[:-1]
        records: Records = {}
        for row, name in enumerate(self.names):
            per_member = []
            for b in np.ndindex(batch_shape):
                n = int(fill[b + (row,)])
                chunks = self.sink.take(b, row, int(total[b + (row,)]) - n)
                parts_l = [c[1] for c in chunks] + [losses[b + (row,)][:n]]
                parts_w = [c[2] for c in chunks] + [weights[b + (row,)][:n]]
                per_member.append((np.concatenate(parts_l), np.concatenate(parts_w)))
            lengths = {len(pl) for pl, _ in per_member}
            if len(lengths) > 1:
                raise ValueError(f"loss {name!r} was recorded a different number of times "
                                 f"across the batch of managers: {sorted(lengths)}.")
            n_rec = lengths.pop()
            records[name] = (
                np.stack([pl for pl, _ in per_member]).reshape(batch_shape + (n_rec,)),
                np.stack([pw for _, pw in per_member]).reshape(batch_shape + (n_rec,)))
        emptied = self.history.with_fill(jnp.zeros_like(self.history.fill))
        return records, self.replace(history=emptied)

    def flush(self, log: Any) -> LossManager:
        """Drains the records into ``log`` (a ``LossLog``) and returns the emptied manager."""
        records, emptied = self.drain()
        log.append(records)
        return emptied

    def _select(self, query: Sequence[str] | None) -> list[tuple[int, LossEntry]]:
        return [(i, e) for i, e in enumerate(self.entries) if e.matches(query)]

    def registered(self, query: Sequence[str] | None = None) -> dict[str, LossEntry]:
        """The registered losses matching ``query`` (None = all; any tag matches)."""
        return {e.name: e for _, e in self._select(query)}

    def loss_values(self, query: Sequence[str] | None = None,
                    precision: int = 2) -> dict[str, float]:
        """Latest weighted loss of each matching loss, rounded to ``precision``.

        Raises:
          IndexError: a matching loss has not been computed yet.
        """
        latest = np.asarray(self.history.latest_loss)
        total = np.asarray(self.history.total)
        out = {}
        for i, entry in self._select(query):
            if np.any(total[..., i] == 0):
                raise IndexError(f"loss {entry.name!r} has not been computed yet.")
            out[entry.name] = _report.rounded(latest[..., i], precision)
        return out

    def loss_tensors(self, query: Sequence[str] | None = None) -> dict[str, jax.Array]:
        """Latest weighted map (``keep_map`` losses) or weighted value of matching losses."""
        return {e.name: self.history.maps.get(e.name, self.history.latest_loss[..., i])
                for i, e in self._select(query)}

    def loss_weights(self, query: Sequence[str] | None = None,
                     precision: int = 2) -> dict[str, float]:
        """Weight applied most recently to each matching loss (its epoch-0 weight before
        the first computation), rounded to ``precision``."""
        latest = np.asarray(self.history.latest_weight)
        return {e.name: _report.rounded(latest[..., i], precision)
                for i, e in self._select(query)}

    def print_losses(self, epoch: int, iters: int, precision: int = 2,
                     capture: bool = False) -> str | None:
        """``"(epoch: {e}, iters: {i}) Loss: {name}: {value} ..."``, printed or returned."""
        return _report.emit(_report.format_losses(epoch, iters, self.loss_values(
            precision=precision)), capture)

    def print_weights(self, precision: int = 2, capture: bool = False) -> str | None:
        """``"Loss weights: {name}: {weight} ..."``, printed or returned."""
        return _report.emit(_report.format_weights(self.loss_weights(precision=precision)),
                            capture)


_objective = jax.jit(LossManager._objective)
_checked_objective = jax.jit(checkify.checkify(LossManager._objective))
