"""The pure objective: registered losses evaluated, weighted and summed.

``Objective`` is a pytree of ``LossEntry`` (names, functions and tags static; a loss
module's parameters are leaves), of the losses' schedule numbers packed into one
``[n, 4]`` leaf, and of weight rules bound to some of the losses (their state is
leaves). Calling it is a pure function of (entries, numbers, rules, inputs, epoch,
gradients) that returns an :class:`Evaluation` (the total, each weighted loss and the
weight applied to it: a loss's schedule times the weights of the rules over it), plus
what the manager records and keeps (the rules with their state updated...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
from jax.experimental import checkify
import jax.numpy as jnp
import numpy as np

from nectargan_jax._checks import float_dtype
from nectargan_jax._pytree import pytree_dataclass
from nectargan_jax.manager._entry import NUMBERS, LossEntry
from nectargan_jax.scheduling import BaseSchedule
from nectargan_jax.manager._bound import BoundRule
from nectargan_jax.weighting import Context


class Evaluation(NamedTuple):
    """What one call of the manager (``compute_many``) gives, besides the new manager.

    Attributes:
      total: the sum of the weighted losses (gradients flow).
      values: ``{name: weighted loss}`` for each input (gradients flow; keys sorted,
        as JAX orders a dict's keys in a pytree).
      weights: ``{name: weight applied}`` for each input: the loss's schedule times the
        weights of the rules over it, as recorded (gradients flow where a rule lets
        them, e.g. to uncertainty weighting's log-variances).
    """

    total: jax.Array
    values: dict[str, jax.Array]
    weights: dict[str, jax.Array]


class Evaluated(NamedTuple):
    """An :class:`Evaluation` and what the manager records and keeps from it.

    Attributes:
      result: the evaluation.
      rows: the evaluated losses' indices, in registration order.
      weights: ``shape=(len(rows),)``: the weight applied to each, in ``rows`` order.
      maps: ``{row: weighted per-element map}`` for losses that keep one.
      clamped: ``shape=(len(rows),), dtype=bool``: a rule's weight sits at its clamp.
      rules: the bound rules, their state updated by this evaluation.
    """

    result: Evaluation
    rows: tuple[int, ...]
    weights: jax.Array
    maps: dict[int, jax.Array]
    clamped: jax.Array
    rules: tuple[BoundRule, ...]


@pytree_dataclass
class Objective:
    """Named, weighted losses: ``objective(inputs, epoch) -> Evaluated``.

    Attributes:
      entries: the registered losses, in registration order.
      numbers: ``shape=(n, 4)``: row ``i`` holds the numbers of loss ``i``'s packed
        weight (zeros for a weight its entry holds itself). One leaf for every
        schedule: a jitted step pays for every leaf it takes in and hands back.
      rules: weight rules, each bound to some of the losses (a loss's weight is its
        schedule times the weights of every rule over it).
    """

    entries: tuple[LossEntry, ...] = ()
    numbers: jax.Array = None
    rules: tuple[BoundRule, ...] = ()

    def __post_init__(self):
        if self.numbers is None:
            object.__setattr__(self, "numbers", jnp.zeros((0, NUMBERS), float_dtype()))

    def schedule(self, i: int) -> BaseSchedule:
        """The weight schedule of loss ``i``."""
        return self.entries[i].schedule(self.numbers[..., i, :])

    @property
    def names(self) -> tuple[str, ...]:
        """Loss names, in registration order."""
        return tuple(e.name for e in self.entries)

    def index(self, name: str) -> int:
        """Position of ``name``; KeyError listing the registered names."""
        for i, entry in enumerate(self.entries):
            if entry.name == name:
                return i
        raise KeyError(f"no loss named {name!r}; registered losses: {list(self.names)}.")

    def __call__(self, inputs: Mapping[str, tuple[jax.Array, jax.Array]],
                 epoch: jax.Array, *, check_finite: bool = False,
                 steps: jax.Array | None = None,
                 grads: Mapping[str, Any] | None = None) -> Evaluated:
        """Evaluates the losses named in ``inputs`` at ``epoch``.

        Losses are evaluated in registration order, whatever the order of ``inputs``.

        Args:
          inputs: ``{name: (x, y)}``.
          epoch: the epoch every weight is evaluated at.
          check_finite: add a ``checkify`` check per loss (the message names the loss
            and its step, read from ``steps``).
          steps: records made per loss so far (a rule's step; the check's message).
          grads: gradients for the rules that read them (``Context.grads``).

        Raises:
          ValueError: only some of the losses of one rule are in ``inputs``.
        """
        rows = tuple(sorted(self.index(name) for name in inputs))
        applied = self.weights(rows, epoch)
        raw, raw_maps = {}, {}
        for i in rows:
            entry = self.entries[i]
            x, y = inputs[entry.name]
            if entry.keep_map:
                raw_maps[i] = _array(entry.name, entry.function(x, y, reduction="none"))
                if raw_maps[i].shape != entry.map_shape:
                    raise ValueError(
                        f"loss {entry.name!r}: the function returned a map of shape "
                        f"{raw_maps[i].shape}, but the loss was registered with "
                        f"keep_map={entry.map_shape}.")
                raw[i] = jnp.mean(raw_maps[i])
            else:
                raw[i] = _scalar(entry.name, entry.function(x, y))
        factors, offsets, clamps, rules = self._apply_rules(rows, raw, epoch, steps, grads)
        values, weights, maps = {}, [], {}
        for i in rows:
            entry = self.entries[i]
            weight = applied[i] * factors[i] if i in factors else applied[i]
            # The loss and its weight meet in their promoted dtype, cast explicitly, so
            # a bfloat16 loss works under jax_numpy_dtype_promotion='strict' too.
            dtype = np.promote_types(raw[i].dtype, weight.dtype)
            if entry.keep_map:
                maps[i] = raw_maps[i].astype(dtype) * weight.astype(dtype)
                value = jnp.mean(maps[i])
            else:
                value = raw[i].astype(dtype) * weight.astype(dtype)
            if i in offsets:
                value = value + offsets[i].astype(dtype)
            if check_finite:
                checkify.check(jnp.all(jnp.isfinite(value)),
                               f"non-finite value in loss {entry.name!r} at step {{step}}",
                               step=steps[i])
            values[entry.name] = value
            weights.append(weight)
        total = sum(values.values())
        names = list(inputs)
        applied_by_name = {self.entries[i].name: w for i, w in zip(rows, weights)}
        result = Evaluation(total, {name: values[name] for name in names},
                            {name: applied_by_name[name] for name in names})
        clamped = jnp.stack([clamps.get(i, jnp.zeros((), bool)) for i in rows])
        return Evaluated(result, rows, jnp.stack(weights), maps, clamped, rules)

    def _apply_rules(self, rows: Sequence[int], raw: dict[int, jax.Array],
                     epoch: jax.Array, steps: jax.Array | None,
                     grads: Mapping[str, Any] | None):
        """Evaluates the rules whose losses are computed: per row, the product of their
        weights, the sum of their offsets and whether any is clamped; and the rules with
        their state updated (rules over other losses are kept as they are)."""
        computed = {self.entries[i].name for i in rows}
        factors, offsets, clamps, rules = {}, {}, {}, []
        for bound in self.rules:
            present = [name in computed for name in bound.names]
            if not any(present):
                rules.append(bound)
                continue
            if not all(present):
                missing = [n for n, p in zip(bound.names, present) if not p]
                raise ValueError(
                    f"losses {list(bound.names)} share a weight rule and must be computed "
                    f"in the same call; missing from the inputs: {missing}.")
            members = [self.index(name) for name in bound.names]
            step = (jnp.zeros((), jnp.int32) if steps is None
                    else jnp.min(jnp.stack([steps[i] for i in members])))
            losses = jax.lax.stop_gradient(
                jnp.stack([raw[i] for i in members]).astype(jnp.float32))
            out = bound.rule(Context(epoch, step, losses, dict(grads or {}), bound.names))
            for k, i in enumerate(members):
                factors[i] = factors[i] * out.weight[k] if i in factors else out.weight[k]
                offsets[i] = offsets[i] + out.offset[k] if i in offsets else out.offset[k]
                clamps[i] = clamps[i] | out.clamped[k] if i in clamps else out.clamped[k]
            rules.append(bound.replace(rule=out.rule))
        return factors, offsets, clamps, tuple(rules)

    def weights(self, rows: Sequence[int], epoch: jax.Array) -> dict[int, jax.Array]:
        """The weight of each row at ``epoch``. Packed schedules of one structure are
        evaluated together, their rows of ``numbers`` taken at once and the schedule
        vmapped over them (XLA:CPU runs one small kernel per schedule otherwise, which
        costs more than the arithmetic)."""
        groups: dict[Any, list[int]] = {}
        applied = {}
        for i in rows:
            entry = self.entries[i]
            if entry.packed is None:
                applied[i] = entry.weight(epoch)
            else:
                groups.setdefault(entry.packed, []).append(i)
        for packed, members in groups.items():
            if len(members) == 1:
                applied[members[0]] = self.schedule(members[0])(epoch)
                continue
            contiguous = members == list(range(members[0], members[-1] + 1))
            rows_of = (slice(members[0], members[-1] + 1) if contiguous
                       else np.asarray(members))
            stacked = jax.tree.unflatten(packed, [self.numbers[rows_of]])
            values = jax.vmap(lambda s: s(epoch))(stacked)
            applied.update((i, values[k]) for k, i in enumerate(members))
        return applied


def _array(name: str, value) -> jax.Array:
    """A loss function's result as an array of real numbers; TypeError naming the loss."""
    if not hasattr(value, "shape") or not hasattr(value, "dtype") or not (
            jnp.issubdtype(value.dtype, jnp.floating) or jnp.issubdtype(value.dtype, jnp.integer)):
        raise TypeError(f"loss {name!r}: the loss function must return a real array, got "
                        f"{type(value).__name__}: {value!r}.")
    return value


def _scalar(name: str, value) -> jax.Array:
    """A loss function's result, checked to be a real scalar."""
    value = _array(name, value)
    if value.shape != ():
        raise ValueError(f"loss {name!r}: the loss function must return a scalar, got "
                         f"shape {value.shape} (reduce it, e.g. with jnp.mean).")
    return value
