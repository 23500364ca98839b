"""``LossManager``: the facade over the objective, the device history and a monitor.

A manager is a plain value: an immutable pytree whose leaves are all of its state (the
weights, loss parameters, the rules' state and the device-side history) and whose aux
data is structure only (names, functions, tags, capacity), equal for managers built the
same way. Every method returns a new manager, so a manager passes through ``jit``
(donated or not), ``grad(..., has_aux=True)``, ``vmap``, ``lax.scan`` carries,
``copy.deepcopy``, ``pickle`` and orbax, and a step that computes, weights and records
every loss makes no host transfer. Host work happens outside the step on concrete
values: ``drain``, ``drain_health`` and ``flush`` here, queries and console strings in
``nectargan_jax.manager.reporting``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import numbers
from typing import Any, Protocol

import jax
from jax.experimental import checkify
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from nectargan_jax._checks import check_bool, is_traced, on_host
from nectargan_jax._pytree import pytree_dataclass, static_field
from nectargan_jax.losses import LossSpec
from nectargan_jax.manager import reporting
from nectargan_jax.manager._entry import LossEntry, LossFn
from nectargan_jax.manager._history import History
from nectargan_jax.manager._objective import Evaluation, Objective
from nectargan_jax.manager.reporting import Records
from nectargan_jax.manager._bound import BoundRule
from nectargan_jax.manager._trainable import trainable_leaves, with_trainable_leaves
from nectargan_jax.weighting import Rule

Query = str | tuple[str, ...] | list[str] | None


class Sink(Protocol):
    """Where ``flush`` writes: anything with ``append(records)`` (a ``LossLog``, a
    writer of the training job, a list-like collector in a test)."""

    def append(self, records: Records) -> None: ...


class Monitor(Protocol):
    """The manager's slot for per-call checks of the losses (``HealthChecks``): a
    pytree updated inside the step and reported on the host."""

    def sized(self, n: int) -> Monitor:
        """This monitor with state for ``n`` losses."""

    def update(self, names: tuple[str, ...], rows: tuple[int, ...], values: jax.Array,
               clamped: jax.Array, steps: jax.Array, epoch: jax.Array) -> Monitor:
        """The state after one call: ``values`` and ``clamped`` per evaluated row,
        ``steps`` the records per loss before the call (pure jnp)."""

    def report(self, names: tuple[str, ...]) -> Any:
        """The events since the window started (host side): falsy when none, with
        ``warn(stacklevel)`` issuing them as warnings (``flush``'s default)."""

    def new_window(self) -> Monitor:
        """This monitor with its window's events cleared."""


_MONITOR_METHODS = ("sized", "update", "report", "new_window")


def _check_epoch(epoch: Any) -> None:
    """The epoch must be one real number (concrete ones also finite)."""
    if isinstance(epoch, (bool, np.bool_)) or not isinstance(
            epoch, (numbers.Real, np.ndarray, np.generic, jax.Array)):
        raise TypeError(f"epoch must be a real number or a scalar array, got "
                        f"{type(epoch).__name__}: {epoch!r}.")
    dtype = getattr(epoch, "dtype", None)
    if dtype is not None and not (jnp.issubdtype(dtype, jnp.integer)
                                  or jnp.issubdtype(dtype, jnp.floating)):
        raise TypeError(f"epoch must be a real number, got an array of dtype {dtype}.")
    if np.shape(epoch) != ():
        raise ValueError(f"epoch must be a scalar, got shape {np.shape(epoch)}.")
    if not isinstance(epoch, jax.core.Tracer) and not np.isfinite(np.asarray(epoch)):
        raise ValueError(f"epoch must be finite, got epoch={epoch!r}.")


def _check_inputs(objective: Objective, inputs: Any) -> dict[str, tuple[Any, Any]]:
    """``{name: (x, y)}`` with known names, real arrays and matching shapes."""
    if not isinstance(inputs, Mapping) or not inputs:
        raise TypeError(f"inputs must be a non-empty mapping {{name: (x, y)}}, got {inputs!r}.")
    checked = {}
    for name, pair in inputs.items():
        objective.index(name)
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"inputs[{name!r}] must be a pair (x, y), got "
                            f"{type(pair).__name__} of shape {np.shape(pair)}.")
        x, y = pair
        for label, array in (("x", x), ("y", y)):
            dtype = getattr(array, "dtype", None) or np.asarray(array).dtype
            if not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
                raise TypeError(f"loss {name!r}: {label} must be a real array, got dtype "
                                f"{dtype}.")
        if jnp.shape(x) != jnp.shape(y):
            raise ValueError(f"loss {name!r}: x and y must have the same shape, got "
                             f"x.shape={jnp.shape(x)} and y.shape={jnp.shape(y)}.")
        checked[name] = (x, y)
    return checked


def _check_call(objective: Objective, inputs: Any, epoch: Any, grads: Any):
    """The arguments of ``compute_many`` and ``evaluate``, checked."""
    inputs = _check_inputs(objective, inputs)
    _check_epoch(epoch)
    if grads is not None and not isinstance(grads, Mapping):
        raise TypeError(f"grads must be a mapping {{key: gradient pytree}} or None, got "
                        f"{type(grads).__name__}.")
    return inputs, dict(grads or {})


@pytree_dataclass(flat=True)
class LossManager:
    """An immutable collection of named losses with weights, tags and history.

    Args:
      capacity: records kept on the device per loss between two drains. The host knows
        how many records each call makes: drain (or ``flush``) before a loss records
        more than ``capacity`` values, e.g. every epoch with ``capacity`` at least the
        steps of an epoch. Values past capacity are dropped and the next ``drain``
        raises ``OverflowError`` naming the loss and how many were dropped.
      keep_history: record every value (True), or keep only the latest values (False,
        the reference's ``enable_logging=False``).
      check_finite: check every weighted loss for NaN/Inf with
        ``jax.experimental.checkify`` (wrap a jitted step in ``checkify.checkify``);
        the error names the loss and its step.
      health: a monitor updated at every call (:class:`Monitor`; e.g.
        ``nectargan_jax.health.HealthChecks``: discriminator collapse, non-finite
        losses, weights at a clamp), reported by ``flush`` or ``drain_health``; None
        is off and costs nothing.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nectargan_jax.losses import l1
      >>> lm = LossManager().register('L1', l1, weight=100.0, tags=('G',))
      >>> loss, lm = lm.compute('L1', jnp.ones((1, 4, 4, 3)), jnp.zeros((1, 4, 4, 3)))
      >>> records, lm = lm.drain()
      >>> float(loss), records['L1'][1].tolist()
      (100.0, [100.0])
    """

    capacity: int = static_field(default=1024)
    keep_history: bool = static_field(default=True)
    check_finite: bool = static_field(default=False)
    objective: Objective = None
    history: History | None = None
    health: Monitor | None = None

    def __post_init__(self):
        if isinstance(self.capacity, (bool, np.bool_)) or not isinstance(
                self.capacity, numbers.Integral):
            raise TypeError(f"capacity must be a positive int, got "
                            f"{type(self.capacity).__name__}: {self.capacity!r}.")
        if self.capacity < 1:
            raise ValueError(
                f"capacity must be a positive int, got capacity={self.capacity!r}.")
        object.__setattr__(self, "capacity", int(self.capacity))
        object.__setattr__(self, "keep_history", check_bool("keep_history", self.keep_history))
        object.__setattr__(self, "check_finite", check_bool("check_finite", self.check_finite))
        if self.objective is None:
            object.__setattr__(self, "objective", Objective())
        if self.history is None:
            n = len(self.objective.entries)
            object.__setattr__(self, "history", History.init(
                self.capacity, [self.objective.schedule(i)(0.0) for i in range(n)],
                [e.map_shape for e in self.objective.entries]))
        if self.health is not None:
            if not all(callable(getattr(self.health, m, None)) for m in _MONITOR_METHODS):
                raise TypeError(f"health must be a monitor such as HealthChecks (with methods "
                                f"{', '.join(_MONITOR_METHODS)}) or None, got "
                                f"{type(self.health).__name__}: {self.health!r}.")
            object.__setattr__(self, "health", self.health.sized(len(self.objective.entries)))

    def __repr__(self) -> str:
        names = ", ".join(self.names)
        health = "" if self.health is None else f", health={self.health!r}"
        held = self.history.fill
        if isinstance(held, jax.core.Tracer) or np.ndim(held) != 1:
            return f"LossManager(losses=[{names}], capacity={self.capacity}{health})"
        held = np.asarray(held)
        weights = np.asarray(self.history.latest_weight)
        losses = ", ".join(f"{n}: weight {w:.4g}, {int(k)} held"
                           for n, w, k in zip(self.names, weights, held))
        return f"LossManager([{losses}], capacity={self.capacity}{health})"

    # Registration -------------------------------------------------------------------

    @property
    def entries(self) -> tuple[LossEntry, ...]:
        """The registered losses, in registration order."""
        return self.objective.entries

    @property
    def names(self) -> tuple[str, ...]:
        """Registered loss names, in registration order."""
        return self.objective.names

    def index(self, name: str) -> int:
        """Row of ``name`` in the records; KeyError listing the valid names."""
        return self.objective.index(name)

    def register(self, name: str, fn: LossFn, weight: Any = 1.0, tags: Any = (),
                 keep_map: Any = None) -> LossManager:
        """A new manager with one more loss (the records of the others are kept).

        Args:
          name: unique name.
          fn: ``(x, y) -> scalar`` written with jnp; a plain function (module-level, so
            that managers built the same way compare equal) or a pytree callable such
            as an ``nnx.Module``, whose arrays become leaves of the manager.
          weight: a number, a schedule of the epoch, or a weight rule
            (``nectargan_jax.weighting``, e.g. ``gate(1000) * adaptive_last_layer()``)
            bound to this loss alone. The manager keeps its own copy of the numbers,
            so a schedule also used elsewhere (a learning rate, another loss) survives
            a donated step.
          tags: a tag or a sequence of tags, for queries.
          keep_map: the shape of the weighted per-element map to keep (``fn`` must
            accept ``reduction='none'``), e.g. ``(1, 256, 256, 3)``; None keeps none.

        Raises:
          ValueError: ``name`` is already registered; a bad ``keep_map``.
          TypeError: bad name, function, weight or tags.
        """
        if name in self.names:
            raise ValueError(f"a loss named {name!r} is already registered; registered "
                             f"losses: {list(self.names)}.")
        rule = weight if isinstance(weight, Rule) else None
        entry, row = LossEntry.build(name, fn, 1.0 if rule is not None else weight, tags,
                                     keep_map)
        objective = Objective(self.entries + (entry,),
                              jnp.concatenate([self.objective.numbers, row[None]]),
                              self.objective.rules + _bound_alone(name, rule))
        fresh = History.init(self.capacity, [objective.schedule(len(self.entries))(0.0)],
                             [entry.map_shape])
        history = jax.tree.map(lambda a, b: jnp.concatenate([a, b]),
                               self.history.replace(maps=()), fresh.replace(maps=()))
        return self.replace(objective=objective,
                            history=history.replace(maps=self.history.maps + fresh.maps))

    def with_rule(self, rule: Any, names: Any) -> LossManager:
        """A new manager where ``rule`` also weighs the losses ``names`` together.

        A group rule (DWA, SoftAdapt, ReLoBRaLo, uncertainty weighting, gradient-norm
        balancing) balances the losses it is bound to; their weights become their
        schedules times the rule's weights. The losses must then be computed in the
        same call.

        Args:
          rule: a weight rule (``nectargan_jax.weighting``), schedule or number.
          names: registered loss names, in the order of the rule's vectors.

        Raises:
          KeyError: an unknown name.
          TypeError, ValueError: bad names, or a rule that cannot weigh them.
        """
        bound = BoundRule.build(rule, names)
        for name in bound.names:
            self.index(name)
        return self.replace(objective=self.objective.replace(
            rules=self.objective.rules + (bound,)))

    def gradients(self) -> tuple[str, ...]:
        """The keys of ``grads`` the rules read (``compute_many(..., grads=...)``),
        sorted: what a training step must compute, and nothing more."""
        return tuple(sorted({key for bound in self.objective.rules
                             for key in bound.rule.gradients(bound.names)}))

    def weight_params(self) -> tuple[jax.Array, ...]:
        """The rules' trainable leaves (``weighting.Trainable``, e.g. uncertainty
        weighting's log-variances), in rule order: give them to your optimizer, and
        back with :meth:`with_weight_params` before computing."""
        return trainable_leaves(self.objective.rules)

    def with_weight_params(self, params: tuple) -> LossManager:
        """This manager with the rules' trainable leaves replaced by ``params`` (as
        :meth:`weight_params` returns them); gradients flow from the losses to them.

        Raises:
          ValueError: ``params`` is not a tuple of arrays shaped as ``weight_params()``.
        """
        return self.replace(objective=self.objective.replace(
            rules=with_trainable_leaves(self.objective.rules, params)))

    def with_spec(self, spec: Callable[..., Mapping[str, LossSpec]], *args: Any,
                  **kwargs: Any) -> LossManager:
        """A manager holding exactly the losses ``spec(*args, **kwargs)`` declares.

        Like the reference's ``init_from_spec``, the spec replaces any registered losses
        (their history starts over; drain it first to keep it).

        Raises:
          TypeError: ``spec`` is not callable or does not return a mapping of
            ``LossSpec``.
        """
        if not callable(spec):
            raise TypeError(f"spec must be a callable returning {{name: LossSpec}}, got "
                            f"{spec!r}.")
        declared = spec(*args, **kwargs)
        if not isinstance(declared, Mapping):
            raise TypeError(f"a loss spec must return a mapping name -> LossSpec, got "
                            f"{type(declared).__name__}.")
        fresh = self.replace(objective=Objective(), history=None)
        for name, item in declared.items():
            if not isinstance(item, LossSpec):
                raise TypeError(f"spec entry {name!r} must be a LossSpec, got {item!r}.")
            fresh = fresh.register(name, *item)
        return fresh

    def set_weight(self, name: str, weight: Any) -> LossManager:
        """A new manager where loss ``name`` has ``weight`` (works under jit and vmap).

        ``weight`` replaces the loss's schedule and the rule bound to it alone, if any;
        rules over a group of losses stay.
        """
        i = self.index(name)
        entries = list(self.entries)
        rule = weight if isinstance(weight, Rule) else None
        entries[i], row = LossEntry.build(name, entries[i].function,
                                          1.0 if rule is not None else weight,
                                          entries[i].tags, entries[i].map_shape)
        rules = tuple(b for b in self.objective.rules if b.names != (name,))
        table = self.objective.numbers.at[i].set(row.astype(self.objective.numbers.dtype))
        return self.replace(objective=Objective(tuple(entries), table,
                                                rules + _bound_alone(name, rule)))

    def weight(self, name: str, epoch: ArrayLike) -> jax.Array:
        """The weight of ``name`` at ``epoch``.

        Raises:
          ValueError: a rule weighs ``name`` (its weight depends on the training state;
            the last one applied is ``reporting.loss_weights(manager)[name]``).
        """
        _check_epoch(epoch)
        i = self.index(name)
        if any(name in bound.names for bound in self.objective.rules):
            raise ValueError(f"the weight of loss {name!r} follows a rule, not only the "
                             "epoch; the weight applied last is reporting.loss_weights"
                             f"(manager)[{name!r}].")
        return self.objective.schedule(i)(epoch)

    def registered(self, query: Query = None) -> dict[str, LossEntry]:
        """The registered losses matching ``query``.

        A query is None (every loss), a tag, or a sequence of tags (a loss matches if
        it has any of them); one that matches no loss raises ``KeyError`` naming the
        known tags and losses.
        """
        chosen = reporting.select({e.name: e.tags for e in self.entries}, query)
        return {self.entries[i].name: self.entries[i] for i in chosen}

    # Computation (pure, jittable) -----------------------------------------------------

    def _step(self, inputs: dict[str, tuple[jax.Array, jax.Array]], epoch: jax.Array,
              grads: dict[str, Any]) -> tuple[Evaluation, LossManager]:
        """The pure body of ``compute_many``: evaluate, weight, record."""
        out = self.objective(inputs, epoch, check_finite=self.check_finite,
                             steps=self.history.total, grads=grads)
        values = jnp.stack([out.result.values[self.names[i]] for i in out.rows])
        history = self.history.record(out.rows, values, out.weights, out.maps,
                                      self.keep_history)
        objective = self.objective if not out.rules else self.objective.replace(
            rules=out.rules)
        health = self.health if self.health is None else self.health.update(
            self.names, out.rows, jax.lax.stop_gradient(values), out.clamped,
            self.history.total, epoch)
        return out.result, self.replace(objective=objective, history=history, health=health)

    def _evaluate(self, inputs: dict[str, tuple[jax.Array, jax.Array]], epoch: jax.Array,
                  grads: dict[str, Any]) -> Evaluation:
        """The pure body of ``evaluate``."""
        return self.objective(inputs, epoch, steps=self.history.total, grads=grads).result

    def evaluate(self, inputs: Mapping[str, tuple[ArrayLike, ArrayLike]],
                 epoch: ArrayLike = 0, grads: Mapping[str, Any] | None = None) -> Evaluation:
        """The objective alone: the losses weighted as ``compute_many`` weighs them, with
        nothing recorded and no state updated (e.g. a part of the objective that a
        step differentiates on its own).

        Raises:
          See ``compute_many``.
        """
        inputs, grads = _check_call(self.objective, inputs, epoch, grads)
        if is_traced((self, inputs, grads, epoch)):
            return self._evaluate(inputs, epoch, grads)
        return _evaluate(self, inputs, epoch, grads)

    def compute(self, name: str, x: ArrayLike, y: ArrayLike, epoch: ArrayLike = 0,
                grads: Mapping[str, Any] | None = None) -> tuple[jax.Array, LossManager]:
        """Computes, weights and records one loss.

        Returns:
          ``(weighted_loss, new_manager)``; gradients flow through ``weighted_loss``,
          never through the records.

        Raises:
          KeyError: unknown name (the message lists the registered ones).
          ValueError, TypeError: see ``compute_many``.
        """
        out, manager = self.compute_many({name: (x, y)}, epoch, grads)
        return out.values[name], manager

    def compute_many(self, inputs: Mapping[str, tuple[ArrayLike, ArrayLike]],
                     epoch: ArrayLike = 0, grads: Mapping[str, Any] | None = None
                     ) -> tuple[Evaluation, LossManager]:
        """Computes, weights and records several losses in one go (a whole objective).

        The work runs as one compiled call (inlined when the caller is itself jitted),
        so eager use is fast too.

        Args:
          inputs: ``{name: (x, y)}`` for each loss to compute.
          epoch: the epoch every weight is evaluated at (a real scalar).
          grads: ``{key: gradient pytree}`` for the weight rules that read gradients
            (the keys ``gradients()`` lists, e.g. ``adaptive_last_layer``'s: the
            gradients of two losses at the last layer); None when no rule needs any.

        Returns:
          ``(evaluation, new_manager)``: the :class:`Evaluation` (``total``, ``values``
          and ``weights``, each weighted loss and the weight applied to it, by name) and
          the manager holding the new records and the rules' updated state.

        Raises:
          KeyError: unknown name (the message lists the registered ones).
          ValueError: shapes of ``x`` and ``y`` differ; a non-scalar or non-finite
            epoch; a loss function that returns a non-scalar; only some of the losses
            of one rule in ``inputs``.
          TypeError: inputs that are not ``{name: (x, y)}`` pairs of real arrays; an
            epoch that is not a real number.
        """
        inputs, grads = _check_call(self.objective, inputs, epoch, grads)
        if is_traced((self, inputs, grads, epoch)):
            return self._step(inputs, epoch, grads)
        if self.check_finite:
            error, result = _checked_step(self, inputs, epoch, grads)
            error.throw()
            return result
        return _step(self, inputs, epoch, grads)

    # Host side ------------------------------------------------------------------------

    def drain(self) -> tuple[Records, LossManager]:
        """Everything recorded since the last drain, in order, and a manager emptied of it.

        A pure read: this manager is unchanged, so draining it again gives the same
        records, and a failed write of them loses nothing. Health events stay (see
        ``drain_health``).

        Returns:
          ``({name: (losses, weights)}, new_manager)``: NumPy arrays whose last axis is
          the record order (leading axes are a vmapped batch of managers).

        Raises:
          OverflowError: a loss recorded more than ``capacity`` values since the last
            drain (the message names it and says how many were dropped).
          TypeError: called under a trace (inside jit, vmap...).
        """
        on_host("LossManager.drain", self.history)
        records = reporting.drain(self.history, self.names)
        return records, self.replace(history=self.history.emptied())

    def drain_health(self) -> tuple[Any, LossManager]:
        """The monitor's events since the last report, and a manager starting a new window.

        A pure read like ``drain`` (the records are left alone): this manager is
        unchanged. With ``HealthChecks``, a step is a loss's record index (its records
        before the call, from 0), the step weight rules see; a collapse continuing past
        a report goes on counting in the next window.

        Returns:
          ``(report, new_manager)``: the monitor's report (a ``HealthReport``: falsy
          when no check fired), or None without a monitor.

        Raises:
          TypeError: called under a trace (inside jit, vmap...).
        """
        if self.health is None:
            return None, self
        on_host("LossManager.drain_health", self.health)
        return (self.health.report(self.names),
                self.replace(health=self.health.new_window()))

    def flush(self, sink: Sink, on_health: Callable[[Any], object] | None = None
              ) -> LossManager:
        """Drains the records into ``sink``, then reports the monitor's events, and
        returns the emptied manager (starting a new reporting window).

        If ``sink.append`` raises, the exception propagates and this manager still
        holds every record and event: flushing it again writes them all.

        Args:
          sink: anything with ``append(records)`` (a ``LossLog``, ``records`` as
            ``drain`` returns them).
          on_health: called with the monitor's report when it holds events; None issues
            them as warnings (``GANHealthWarning`` with ``HealthChecks``).

        Raises:
          TypeError: ``sink`` has no ``append`` method or ``on_health`` is not
            callable; called under a trace (inside jit, vmap...).
        """
        if not callable(getattr(sink, "append", None)):
            raise TypeError(f"sink must have an append(records) method (a LossLog...), "
                            f"got {type(sink).__name__}: {sink!r}.")
        if on_health is not None and not callable(on_health):
            raise TypeError(f"on_health must be callable (report) -> None, got "
                            f"{type(on_health).__name__}: {on_health!r}.")
        on_host("LossManager.flush", self.history)
        records, emptied = self.drain()
        sink.append(records)
        report, emptied = emptied.drain_health()
        if report:
            if on_health is None:
                report.warn(stacklevel=2)
            else:
                on_health(report)
        return emptied


def _bound_alone(name: str, rule: Rule | None) -> tuple[BoundRule, ...]:
    """A loss's own rule bound to it alone, its buffers the manager's own (none: ())."""
    return () if rule is None else (BoundRule.build(rule, (name,)),)


_step = jax.jit(LossManager._step)
_evaluate = jax.jit(LossManager._evaluate)
_checked_step = jax.jit(checkify.checkify(LossManager._step))
