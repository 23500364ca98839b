"""The pure objective: registered losses evaluated, weighted and summed.

``Objective`` is a pytree of ``LossEntry`` (weights and loss parameters are leaves;
names, functions and tags static). Calling it is a pure function of (entries, inputs,
epoch) that returns the total, each weighted loss and the weight applied to it: what
the device-side history then records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
from jax.experimental import checkify
import jax.numpy as jnp

from nectargan_jax._pytree import pytree_dataclass
from nectargan_jax.losses._entry import LossEntry


class Evaluation(NamedTuple):
    """What one evaluation of an objective gives.

    Attributes:
      total: the sum of the weighted losses (gradients flow).
      values: ``{name: weighted loss}`` in the order of the inputs (gradients flow).
      rows: the evaluated losses' indices, in registration order.
      weights: ``shape=(len(rows),)``: the weight applied to each, in ``rows`` order.
      maps: ``{row: weighted per-element map}`` for losses that keep one.
    """

    total: jax.Array
    values: dict[str, jax.Array]
    rows: tuple[int, ...]
    weights: jax.Array
    maps: dict[int, jax.Array]


@pytree_dataclass
class Objective:
    """Named, weighted losses: ``objective(inputs, epoch) -> Evaluation``.

    Attributes:
      entries: the registered losses, in registration order.
    """

    entries: tuple[LossEntry, ...] = ()

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
                 steps: jax.Array | None = None) -> Evaluation:
        """Evaluates the losses named in ``inputs`` at ``epoch``.

        Losses are evaluated in registration order, whatever the order of ``inputs``.

        Args:
          inputs: ``{name: (x, y)}``.
          epoch: the epoch every weight is evaluated at.
          check_finite: add a ``checkify`` check per loss (the message names the loss
            and its step, read from ``steps``, one count per loss).
          steps: records made per loss so far (for the check's message).
        """
        rows = tuple(sorted(self.index(name) for name in inputs))
        applied = self.weights(rows, epoch)
        values, weights, maps = {}, [], {}
        for i in rows:
            entry = self.entries[i]
            x, y = inputs[entry.name]
            weight = applied[i]
            if entry.keep_map:
                loss_map = _array(entry.name, entry.function(x, y, reduction="none")) * weight
                if loss_map.shape != entry.map_shape:
                    raise ValueError(
                        f"loss {entry.name!r}: the function returned a map of shape "
                        f"{loss_map.shape}, but the loss was registered with "
                        f"keep_map={entry.map_shape}.")
                value = jnp.mean(loss_map)
                maps[i] = loss_map
            else:
                value = _scalar(entry.name, entry.function(x, y)) * weight
            if check_finite:
                checkify.check(jnp.all(jnp.isfinite(value)),
                               f"non-finite value in loss {entry.name!r} at step {{step}}",
                               step=steps[i])
            values[entry.name] = value
            weights.append(weight)
        total = sum(values.values())
        ordered = {name: values[name] for name in inputs}
        return Evaluation(total, ordered, rows, jnp.stack(weights), maps)

    def weights(self, rows: Sequence[int], epoch: jax.Array) -> dict[int, jax.Array]:
        """The weight of each row at ``epoch``, schedules of one structure evaluated
        together: their numbers stacked and the schedule vmapped once (XLA:CPU runs one
        small kernel per schedule otherwise, which costs more than the arithmetic)."""
        groups: dict[Any, list[int]] = {}
        for i in rows:
            groups.setdefault(jax.tree.structure(self.entries[i].weight), []).append(i)
        applied = {}
        for members in groups.values():
            schedules = [self.entries[i].weight for i in members]
            if len(members) == 1:
                applied[members[0]] = schedules[0](epoch)
                continue
            stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *schedules)
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
