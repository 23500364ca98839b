"""Weight rules: loss weights that follow the training state, updated inside the step.

A rule weighs one or more named losses. A ``Rule`` subclass is a pytree (no decorator:
its fields are leaves unless marked ``static_field``). Bound to their names
(``Rule.bind``), it holds the state it needs in one field, ``state`` (fixed-shape
arrays; None before binding); each call of the manager evaluates it on a
:class:`Context` (epoch, step, this call's unweighted losses, the gradients it declares
with ``gradients``) and gets back an :class:`Applied`: the weights, an additive term
(uncertainty weighting's regulariser), which weights sit at a clamp, and the rule with
its state updated. Rules, numbers and schedules multiply into one rule (``Product``).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
import dataclasses
import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nectargan_jax._checks import number_leaf
from nectargan_jax._pytree import Pytree
from nectargan_jax.scheduling import BaseSchedule


class Context(NamedTuple):
    """What a rule sees when the manager evaluates it.

    Attributes:
      epoch: the epoch passed to ``compute_many`` (a scalar).
      step: ``int32`` scalar: calls made so far with the rule's losses (0 at the first
        call; it survives drains and checkpoints).
      losses: ``shape=(k,)``: this call's unweighted losses, in the rule's name order,
        gradient stopped (a ``keep_map`` loss contributes its mean).
      grads: the gradients the caller passed to ``compute_many(..., grads=...)``,
        ``{key: pytree}``: the keys the rules declare (``Rule.gradients``).
      names: the rule's loss names (static).
    """

    epoch: jax.Array
    step: jax.Array
    losses: jax.Array
    grads: Mapping[str, Any]
    names: tuple[str, ...]


class Applied(NamedTuple):
    """A rule's output for one call.

    Attributes:
      weight: ``shape=(k,)``: the weight of each loss (gradients flow only where the
        rule lets them, e.g. to uncertainty weighting's log-variances).
      offset: ``shape=(k,)``: added to each weighted loss (zeros for most rules).
      clamped: ``shape=(k,), dtype=bool``: the weight sits at a clamp this call.
      rule: the rule with its state updated.
    """

    weight: jax.Array
    offset: jax.Array
    clamped: jax.Array
    rule: Rule


def applied(weight: Any, rule: Rule, k: int, offset: Any = 0.0,
            clamped: Any = False) -> Applied:
    """An ``Applied`` with every part broadcast to ``(k,)`` (float32 / bool)."""
    return Applied(jnp.broadcast_to(jnp.asarray(weight, jnp.float32), (k,)),
                   jnp.broadcast_to(jnp.asarray(offset, jnp.float32), (k,)),
                   jnp.broadcast_to(jnp.asarray(clamped, bool), (k,)), rule)


def ratio_or_one(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    """``numerator / denominator`` where the denominator is > 0, 1 elsewhere (a ratio
    of losses against an earlier loss of 0 carries no information, so it is neutral)."""
    positive = denominator > 0
    return jnp.where(positive, numerator / jnp.where(positive, denominator, 1.0), 1.0)


class Rule(Pytree, abc.ABC):
    """A loss weight computed from the training state.

    Subclasses are pytrees without a decorator (their fields are leaves unless marked
    ``static_field``). They implement ``__call__``; ``bind`` when they hold state or
    accept only some numbers of losses (the state goes into ``state``); ``gradients``
    when they read ``ctx.grads``. ``rule * other`` (a rule, a number or a schedule) is
    their product. Leaves wrapped in ``Trainable`` are trained by the user's
    optimizer (``LossManager.weight_params``).

    Attributes:
      state: what ``bind`` creates for the losses (fixed-shape arrays, e.g. a
        NamedTuple of them), updated by each call; None before binding and for rules
        without state.
    """

    state: Any = dataclasses.field(default=None, kw_only=True)

    def bind(self, names: tuple[str, ...]) -> Rule:
        """This rule ready to weigh ``names``: its state shaped for ``len(names)``.

        Raises:
          ValueError: the rule cannot weigh that many losses.
        """
        del names
        return self

    def gradients(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """The keys of ``ctx.grads`` this rule reads when it weighs ``names`` (none by
        default): a training step computes exactly these (``LossManager.gradients``)."""
        del names
        return ()

    @abc.abstractmethod
    def __call__(self, ctx: Context) -> Applied:
        """The weights for this call and the rule with its state updated."""

    def __mul__(self, other: Any) -> Product:
        return Product(_factors(self) + _factors(as_rule(other, "factor")))

    def __rmul__(self, other: Any) -> Product:
        return Product(_factors(as_rule(other, "factor")) + _factors(self))


class Trainable(Pytree):
    """A leaf trained by the user's optimizer, as ``nnx.Param`` marks a model's: a rule
    wraps such state in it (uncertainty weighting's log-variances), and
    ``LossManager.weight_params`` selects every one by this type.

    Attributes:
      value: the array.
    """

    value: jax.Array


def _factors(rule: Rule) -> tuple[Rule, ...]:
    return rule.factors if isinstance(rule, Product) else (rule,)


class Scale(Rule):
    """A constant factor (its value is a leaf)."""

    value: jax.Array

    def __call__(self, ctx: Context) -> Applied:
        return applied(self.value, self, len(ctx.names))


class OfEpoch(Rule):
    """A schedule of the epoch as a factor: ``schedule(ctx.epoch)``."""

    schedule: BaseSchedule

    def __call__(self, ctx: Context) -> Applied:
        return applied(self.schedule(ctx.epoch), self, len(ctx.names))


class OfStep(Rule):
    """A function of the step as a factor: ``schedule(ctx.step)`` (e.g. a frozen rule).

    ``schedule`` is a ``BaseSchedule`` whose variable is the rule's step count.
    """

    schedule: BaseSchedule

    def __call__(self, ctx: Context) -> Applied:
        return applied(self.schedule(ctx.step), self, len(ctx.names))


class Product(Rule):
    """The product of factors: weights multiply, offsets add, clamps combine (any).

    Build it with ``*``: ``gate(1000) * adaptive_last_layer('nll') * 0.8``.
    """

    factors: tuple[Rule, ...]

    def bind(self, names: tuple[str, ...]) -> Product:
        return Product(tuple(f.bind(names) for f in self.factors))

    def gradients(self, names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for f in self.factors for k in f.gradients(names)))

    def __call__(self, ctx: Context) -> Applied:
        k = len(ctx.names)
        weight, offset = jnp.ones((k,), jnp.float32), jnp.zeros((k,), jnp.float32)
        clamped, updated = jnp.zeros((k,), bool), []
        for factor in self.factors:
            out = factor(ctx)
            weight, offset = weight * out.weight, offset + out.offset
            clamped = clamped | out.clamped
            updated.append(out.rule)
        return Applied(weight, offset, clamped, Product(tuple(updated)))


def as_rule(value: Any, name: str = "weight") -> Rule:
    """A rule, a schedule of the epoch (``OfEpoch``) or a real number (``Scale``).

    Raises:
      TypeError: anything else.
    """
    if isinstance(value, Rule):
        return value
    if isinstance(value, BaseSchedule):
        return OfEpoch(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (numbers.Real, np.ndarray, np.generic, jax.Array)) or np.ndim(value):
        raise TypeError(f"{name} must be a rule, a schedule or a real number, got "
                        f"{type(value).__name__}: {value!r}.")
    return Scale(number_leaf(name, value))
