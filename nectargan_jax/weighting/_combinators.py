"""Factors that shape other rules: a start gate, a clip and an exponential moving average."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nectargan_jax._checks import fraction_leaf, number_leaf, real_leaf
from nectargan_jax._pytree import static_field
from nectargan_jax.weighting._rule import Applied, Context, Rule, applied, as_rule

_UNITS = ("step", "epoch")


class Gate(Rule):
    """0 before ``start``, 1 from ``start`` on (counted in steps or epochs).

    Build it with :func:`gate`.
    """

    start: jax.Array
    unit: str = static_field(default="step")

    def __call__(self, ctx: Context) -> Applied:
        now = ctx.step if self.unit == "step" else ctx.epoch
        return applied(jnp.where(now >= self.start, 1.0, 0.0), self, len(ctx.names))


def gate(start: float, unit: str = "step") -> Gate:
    """A factor that switches a weight on at ``start``.

    The taming-transformers ``adopt_weight``: the weight is 0 while the count is below
    ``start`` and passes unchanged from ``start`` on.

    Args:
      start: the first step (or epoch) at which the weight is on.
      unit: ``'step'`` (calls made with the losses, from 0) or ``'epoch'`` (the epoch
        passed to ``compute_many``).

    Raises:
      ValueError: ``unit`` is not ``'step'`` or ``'epoch'``; ``start`` is not finite.
      TypeError: ``start`` is not a real number (an array of several included).

    Examples:
      >>> import jax.numpy as jnp
      >>> from nectargan_jax.weighting import Context, gate
      >>> g = gate(2)
      >>> [float(g(Context(0, jnp.int32(s), jnp.ones(1), {}, ('a',))).weight[0])
      ...  for s in range(4)]
      [0.0, 0.0, 1.0, 1.0]
    """
    if unit not in _UNITS:
        raise ValueError(f"unit must be one of {_UNITS}, got unit={unit!r}.")
    return Gate(real_leaf("start", start), unit)


class Clip(Rule):
    """``rule``'s weights clipped to ``[minimum, maximum]``; ``clamped`` where they hit.

    Build it with :func:`clip`.
    """

    rule: Rule
    minimum: jax.Array
    maximum: jax.Array

    def bind(self, names: tuple[str, ...]) -> Clip:
        return self.replace(rule=self.rule.bind(names))

    def gradients(self, names: tuple[str, ...]) -> tuple[str, ...]:
        return self.rule.gradients(names)

    def __call__(self, ctx: Context) -> Applied:
        out = self.rule(ctx)
        weight = jnp.clip(out.weight, self.minimum, self.maximum)
        hit = (out.weight <= self.minimum) | (out.weight >= self.maximum)
        return Applied(weight, out.offset, out.clamped | hit, self.replace(rule=out.rule))


def clip(rule: Any, minimum: float = -float("inf"), maximum: float = float("inf")) -> Clip:
    """``rule`` (a rule, schedule or number) with its weights kept in ``[minimum, maximum]``.

    A weight at or beyond a bound is reported as clamped (the manager's health flags).

    Raises:
      ValueError: ``minimum > maximum``, or a NaN bound.
      TypeError: a bound that is not a real number.
    """
    lo, hi = (jnp.asarray(_bound(n, v)) for n, v in (("minimum", minimum), ("maximum", maximum)))
    if not lo <= hi:
        raise ValueError(f"clip needs minimum <= maximum, got minimum={minimum!r}, "
                         f"maximum={maximum!r}.")
    return Clip(as_rule(rule, "rule"), lo, hi)


def _bound(name: str, value: Any) -> float:
    if value in (float("inf"), -float("inf")):
        return value
    return float(number_leaf(name, value))


class EmaState(NamedTuple):
    """The average an ``Ema`` keeps."""

    average: jax.Array  # shape=(k,), dtype=float32: the previous weights' average
    started: jax.Array  # shape=(), dtype=bool: a previous call exists


class Ema(Rule):
    """An exponential moving average of ``rule``'s weights (bias-free: the first call
    takes the weight as it is).

    ``w_t = decay * w_{t-1} + (1 - decay) * inner_t``; the stored average carries no
    gradient, the current term does. Build it with :func:`ema`.
    """

    rule: Rule
    decay: jax.Array

    def bind(self, names: tuple[str, ...]) -> Ema:
        return self.replace(rule=self.rule.bind(names), state=EmaState(
            jnp.zeros((len(names),), jnp.float32), jnp.zeros((), bool)))

    def gradients(self, names: tuple[str, ...]) -> tuple[str, ...]:
        return self.rule.gradients(names)

    def __call__(self, ctx: Context) -> Applied:
        out = self.rule(ctx)
        previous = jax.lax.stop_gradient(self.state.average)
        weight = jnp.where(self.state.started,
                           self.decay * previous + (1 - self.decay) * out.weight, out.weight)
        return Applied(weight, out.offset, out.clamped, self.replace(
            rule=out.rule, state=EmaState(jax.lax.stop_gradient(weight),
                                          jnp.ones((), bool))))


def ema(rule: Any, decay: float = 0.9) -> Ema:
    """``rule`` (a rule, schedule or number) smoothed by an exponential moving average.

    Args:
      rule: the weight to smooth.
      decay: the weight of the previous average, in ``[0, 1)``.

    Raises:
      ValueError: ``decay`` outside ``[0, 1)``.
      TypeError: ``decay`` is not a real number.
    """
    return Ema(as_rule(rule, "rule"), fraction_leaf("decay", decay))
