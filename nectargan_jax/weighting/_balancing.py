"""Loss balancing from the losses' own history: DWA, SoftAdapt and ReLoBRaLo.

Each rule weighs a group of at least two losses (``LossManager.with_rule(rule, names)``)
from the unweighted losses it has seen, kept as fixed-shape ``float32`` state in the
manager. The weights carry no gradient: the papers treat them as constants of the step.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nectargan_jax._checks import ranged_leaf, real_leaf
from nectargan_jax._pytree import static_field
from nectargan_jax.weighting._rule import Applied, Context, Rule, applied, ratio_or_one

_SOFTADAPT_VARIANTS = ("plain", "normalized", "loss_weighted")


def _check_group(rule: str, names: tuple[str, ...]) -> None:
    """A balancing rule needs at least two losses to balance."""
    if len(names) < 2:
        raise ValueError(
            f"{rule} balances a group of at least 2 losses (bind it with "
            f"LossManager.with_rule({rule}(...), names)), got names={list(names)!r}.")


class DwaState(NamedTuple):
    """What ``Dwa`` keeps between calls."""

    epoch: jax.Array  # shape=(), float32: the epoch whose losses ``mean`` averages
    calls: jax.Array  # shape=(), int32: calls seen in that epoch
    mean: jax.Array  # shape=(k,): the running mean of that epoch's losses
    last: jax.Array  # shape=(k,): the mean losses of the last completed epoch
    before: jax.Array  # shape=(k,): the mean losses of the epoch completed before it
    completed: jax.Array  # shape=(), int32: epochs completed, saturating at 2


class Dwa(Rule):
    """Dynamic Weight Average (Liu, Johns and Davison, CVPR 2019). Build it with :func:`dwa`.

    Attributes:
      temperature: the softmax temperature ``T``.
      state: a :class:`DwaState` once bound.
    """

    temperature: jax.Array

    def bind(self, names: tuple[str, ...]) -> Dwa:
        _check_group("dwa", names)
        k = len(names)
        zeros = jnp.zeros((k,), jnp.float32)
        return self.replace(state=DwaState(jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32),
                                           zeros, zeros, zeros, jnp.zeros((), jnp.int32)))

    def __call__(self, ctx: Context) -> Applied:
        k = len(ctx.names)
        s = self.state
        epoch = jnp.asarray(ctx.epoch, jnp.float32)
        roll = (s.calls > 0) & (epoch != s.epoch)
        last = jnp.where(roll, s.mean, s.last)
        before = jnp.where(roll, s.last, s.before)
        completed = jnp.minimum(s.completed + roll.astype(jnp.int32), 2)
        ready = completed >= 2
        ratio = ratio_or_one(last, jnp.where(ready, before, 1.0))
        weight = jnp.where(ready, k * jax.nn.softmax(ratio / self.temperature), 1.0)
        calls = jnp.where(roll, 0, s.calls) + 1
        mean = jnp.where(roll, 0.0, s.mean)
        mean = mean + (ctx.losses - mean) / calls.astype(jnp.float32)
        return applied(weight, self.replace(state=DwaState(epoch, calls, mean, last, before,
                                                           completed)), k)


def dwa(temperature: float = 2.0) -> Dwa:
    r"""Dynamic Weight Average: weights from how fast each loss fell over the last epochs.

    Liu, Johns and Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019,
    as in the authors' code (lorenmt/mtan) and LibMTL's ``DWA``:

    .. math::
       w_k(t) = K\,\mathrm{softmax}_k\!\big(r(t-1) / T\big), \qquad
       r_k(t-1) = \bar L_k(t-1) / \bar L_k(t-2),

    where :math:`\bar L_k(e)` is the mean of loss :math:`k` over the calls of epoch
    :math:`e` (the rule averages them itself, a running mean in its state) and
    :math:`K` the number of losses. The weights of an epoch are fixed during it and sum
    to :math:`K`; they are 1 until two epochs are complete (the paper's
    :math:`w_k(0) = w_k(1) = 1`).

    An epoch is complete when a call comes with a different ``epoch`` than the call
    before, so pass the epoch number (constant within an epoch, as the training step
    does), not a fractional epoch that changes every call. Epochs without calls are
    skipped: :math:`t-1` and :math:`t-2` are the last
    two epochs in which the rule was called (epoch 4 after epochs 1 and 3 uses their
    means). The losses should be positive. A loss whose mean over epoch :math:`t-2` is
    0 (the paper divides by zero there, and every weight of the group becomes NaN) gets
    the ratio 1: no measurable change, like GradNorm's ratio against an initial loss of
    0; the weights stay finite and still sum to :math:`K`.

    Args:
      temperature: :math:`T > 0` (the paper's and LibMTL's default, 2): larger is
        softer, equal weights as :math:`T \to \infty`.

    Returns:
      A group rule for ``LossManager.with_rule(dwa(), names)`` (at least 2 names).

    Raises:
      ValueError: ``temperature <= 0`` or not finite; fewer than 2 losses at binding.
      TypeError: ``temperature`` is not a real number.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nectargan_jax.weighting import Context, dwa
      >>> rule = dwa().bind(('a', 'b'))
      >>> for epoch, losses in [(0, [1.0, 1.0]), (1, [0.5, 1.0]), (2, [0.5, 1.0])]:
      ...     out = rule(Context(epoch, jnp.int32(0), jnp.array(losses), {}, ('a', 'b')))
      ...     rule = out.rule
      >>> [round(float(w), 3) for w in out.weight]  # ratios 0.5 and 1
      [0.876, 1.124]
    """
    return Dwa(ranged_leaf("temperature", temperature, 0.0, low_open=True))


class SoftAdaptState(NamedTuple):
    """What ``SoftAdapt`` keeps between calls."""

    previous: jax.Array  # shape=(k,): the losses of the previous call
    started: jax.Array  # shape=(), bool: a previous call exists


class SoftAdapt(Rule):
    """SoftAdapt (Heydari, Thompson and Mehmood, 2019). Build it with :func:`softadapt`.

    Attributes:
      beta: the softmax's scale :math:`\\beta`.
      eps: added to the normalising sums.
      variant: ``'plain'``, ``'normalized'`` or ``'loss_weighted'`` (static).
      state: a :class:`SoftAdaptState` once bound.
    """

    beta: jax.Array
    eps: jax.Array
    variant: str = static_field(default="loss_weighted")

    def bind(self, names: tuple[str, ...]) -> SoftAdapt:
        _check_group("softadapt", names)
        return self.replace(state=SoftAdaptState(jnp.zeros((len(names),), jnp.float32),
                                                 jnp.zeros((), bool)))

    def __call__(self, ctx: Context) -> Applied:
        k = len(ctx.names)
        previous, started = self.state
        slope = ctx.losses - previous
        if self.variant == "normalized":
            slope = slope / (jnp.sum(jnp.abs(slope)) + self.eps)
        scaled = self.beta * slope
        terms = jnp.exp(scaled - jnp.max(scaled))
        if self.variant == "loss_weighted":
            terms = terms * (ctx.losses + previous) / 2
        weight = jnp.where(started, terms / (jnp.sum(terms) + self.eps), 1.0 / k)
        return applied(weight, self.replace(state=SoftAdaptState(ctx.losses,
                                                                 jnp.ones((), bool))), k)


def softadapt(beta: float = 0.1, variant: str = "loss_weighted", eps: float = 1e-8
              ) -> SoftAdapt:
    r"""SoftAdapt: a softmax of each loss's latest rate of change.

    Heydari, Thompson and Mehmood, "SoftAdapt: Techniques for Adaptive Loss Weighting of
    Neural Networks with Multi-Part Loss Functions", arXiv:1912.12355 (2019), with the
    rate of change of consecutive calls, :math:`s_k = L_k(t) - L_k(t-1)` (the paper's
    first-order difference; the ``softadapt`` package's ``accuracy_order=1``):

    - ``'plain'`` (the original variant):
      :math:`w_k = e^{\beta s_k} / (\sum_l e^{\beta s_l} + \epsilon)`;
    - ``'normalized'`` (normalized slopes): the same with
      :math:`\hat s_k = s_k / (\sum_l |s_l| + \epsilon)` in place of :math:`s_k` (the
      paper's normalisation; the package's ``NormalizedSoftAdapt`` divides by
      :math:`\sum_l s_l`, without the absolute values, which flips the signs or
      explodes when the slopes have mixed signs);
    - ``'loss_weighted'`` (the default, the package's recommendation):
      :math:`w_k = f_k e^{\beta s_k} / (\sum_l f_l e^{\beta s_l} + \epsilon)` with
      :math:`f_k = (L_k(t) + L_k(t-1))/2`, the mean of the losses the slope is taken
      over (the package's average over its window, here two calls).

    The exponents are shifted by their maximum (the package does the same), and
    :math:`\epsilon` is the PyTorch package's ``1e-8`` (its Keras release uses
    ``keras.backend.epsilon()``, ``1e-7``). The weights sum to 1 (convex weights,
    as in the paper): multiply by the number of losses, ``softadapt() * k``, for
    weights that sum to ``k`` like DWA's and ReLoBRaLo's. The first call has no
    previous loss: every weight is :math:`1/k`. Slopes between mini-batches are noisy:
    the rule follows the paper per call, and ``ema(softadapt(), decay)`` smooths it.

    Args:
      beta: :math:`\beta` (the package's default 0.1): > 0 favours the losses that
        fall slowest (or rise), < 0 the fastest, 0 gives equal weights.
      variant: ``'plain'``, ``'normalized'`` or ``'loss_weighted'``.
      eps: :math:`\epsilon \ge 0`.

    Returns:
      A group rule for ``LossManager.with_rule(softadapt(), names)`` (at least 2 names).

    Raises:
      ValueError: an unknown ``variant``, ``eps < 0``, a non-finite number; fewer than
        2 losses at binding.
      TypeError: ``beta`` or ``eps`` is not a real number.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nectargan_jax.weighting import Context, softadapt
      >>> rule = softadapt(beta=1.0, variant='plain').bind(('a', 'b'))
      >>> for losses in ([1.0, 1.0], [2.0, 1.0]):
      ...     out = rule(Context(0, jnp.int32(0), jnp.array(losses), {}, ('a', 'b')))
      ...     rule = out.rule
      >>> [round(float(w), 4) for w in out.weight]  # softmax of the slopes (1, 0)
      [0.7311, 0.2689]
    """
    if variant not in _SOFTADAPT_VARIANTS:
        raise ValueError(f"variant must be one of {_SOFTADAPT_VARIANTS}, got "
                         f"variant={variant!r}.")
    return SoftAdapt(real_leaf("beta", beta), ranged_leaf("eps", eps, 0.0), variant)


class ReLoBRaLoState(NamedTuple):
    """What ``ReLoBRaLo`` keeps between calls."""

    key: jax.Array  # shape=(2,), uint32: the PRNG key drawing rho (split every call)
    weight: jax.Array  # shape=(k,): the weights of the previous call, lambda(t-1)
    initial: jax.Array  # shape=(k,): the losses of the first call, L(0)
    previous: jax.Array  # shape=(k,): the losses of the previous call, L(t-1)
    calls: jax.Array  # shape=(), int32: calls seen, saturating at 2


class ReLoBRaLo(Rule):
    """Relative Loss Balancing with Random Lookback (Bischof and Kraus). Build it with
    :func:`relobralo`.

    Attributes:
      alpha: the weight of the history term :math:`\\alpha`.
      expected_rho: :math:`E[\\rho]`, the probability of keeping the previous weights.
      temperature: the softmax temperature ``T``.
      eps: added to the softmax's denominators.
      key: ``shape=(2,), uint32``: the PRNG key the state starts from.
      state: a :class:`ReLoBRaLoState` once bound.
    """

    alpha: jax.Array
    expected_rho: jax.Array
    temperature: jax.Array
    eps: jax.Array
    key: jax.Array

    def bind(self, names: tuple[str, ...]) -> ReLoBRaLo:
        _check_group("relobralo", names)
        ones = jnp.ones((len(names),), jnp.float32)
        return self.replace(state=ReLoBRaLoState(self.key, ones, ones, ones,
                                                 jnp.zeros((), jnp.int32)))

    def _balanced(self, losses: jax.Array, reference: jax.Array) -> jax.Array:
        """:math:`\\lambda^{bal}`: ``k * softmax(L(t) / (T L(t') + eps))``."""
        k = losses.shape[0]
        return k * jax.nn.softmax(losses / (self.temperature * reference + self.eps))

    def __call__(self, ctx: Context) -> Applied:
        k = len(ctx.names)
        s = self.state
        key, draw = jax.random.split(s.key)
        rho = jax.random.bernoulli(draw, self.expected_rho).astype(jnp.float32)
        initial = jnp.where(s.calls == 0, ctx.losses, s.initial)
        to_initial = self._balanced(ctx.losses, initial)
        to_previous = self._balanced(ctx.losses, s.previous)
        history = rho * s.weight + (1 - rho) * to_initial
        full = self.alpha * history + (1 - self.alpha) * to_previous
        weight = jnp.where(s.calls == 0, 1.0, jnp.where(s.calls == 1, to_initial, full))
        return applied(weight, self.replace(state=ReLoBRaLoState(
            key, weight, initial, ctx.losses, jnp.minimum(s.calls + 1, 2))), k)


def relobralo(alpha: float = 0.999, expected_rho: float = 0.99, temperature: float = 0.1,
              seed: int = 0, eps: float = 1e-8) -> ReLoBRaLo:
    r"""ReLoBRaLo: balance each loss's progress relative to its start and to the last call.

    Bischof and Kraus, "Multi-Objective Loss Balancing for Physics-Informed Deep
    Learning", arXiv:2110.09813 (2021; journal version 2025):

    .. math::
       \lambda^{bal}_k(t, t') &= K\,\mathrm{softmax}_k\!\big(L(t) / (T\,L(t') + \epsilon)\big) \\
       \lambda^{hist}_k(t) &= \rho\,\lambda_k(t-1) + (1-\rho)\,\lambda^{bal}_k(t, 0) \\
       \lambda_k(t) &= \alpha\,\lambda^{hist}_k(t) + (1-\alpha)\,\lambda^{bal}_k(t, t-1)

    with :math:`\rho \sim \mathrm{Bernoulli}(E[\rho])` drawn each call from a PRNG key
    kept in the state (``seed`` starts it; the key is split every call, so a restart
    from a checkpoint draws the same sequence). The first steps follow the authors'
    reference code (``ReLoBRaLoLoss`` of their notebooks): the first call weighs 1 and
    stores :math:`L(0)`; the second takes :math:`\lambda = \lambda^{bal}(1, 0)`
    (:math:`\alpha = 0`, :math:`\rho = 1`); the formula holds from the third call on.
    :math:`\epsilon` (the code's ``EPS``) keeps a zero loss from dividing by zero.

    Defaults: the authors' reference code, :math:`\alpha = 0.999`,
    :math:`E[\rho] = 0.99`, :math:`T = 0.1`. Other libraries differ: NVIDIA Modulus and
    neuraloperator's ``Relobralo`` use :math:`\alpha = 0.95`, :math:`E[\rho] = 0.99`,
    :math:`T = 1` and apply the formula from the second call (with
    :math:`\lambda(0) = 1`); the ``ReLoBRaLo_PyTorch`` port uses :math:`E[\rho] = 0.999`.
    Pass their numbers to compare.

    Args:
      alpha: :math:`\alpha \in [0, 1]`, the weight of the history.
      expected_rho: :math:`E[\rho] \in [0, 1]`: 1 always keeps the previous weights
        (no lookback), 0 always looks back to :math:`L(0)`.
      temperature: :math:`T > 0`.
      seed: starts the PRNG key (an int).
      eps: :math:`\epsilon \ge 0`.

    Returns:
      A group rule for ``LossManager.with_rule(relobralo(), names)`` (at least 2 names).

    Raises:
      ValueError: a number out of its range or not finite, a ``seed`` beyond 64 bits;
        fewer than 2 losses at binding.
      TypeError: a number that is not real, a ``seed`` that is not an int.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nectargan_jax.weighting import Context, relobralo
      >>> rule = relobralo(temperature=1.0).bind(('a', 'b'))
      >>> for losses in ([1.0, 1.0], [2.0, 1.0]):
      ...     out = rule(Context(0, jnp.int32(0), jnp.array(losses), {}, ('a', 'b')))
      ...     rule = out.rule
      >>> [round(float(w), 4) for w in out.weight]  # 2 softmax((2, 1))
      [1.4621, 0.5379]
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}: {seed!r}.")
    if not -2 ** 63 <= seed < 2 ** 63:
        raise ValueError(f"seed must be an int in [-2**63, 2**63) (a PRNG key's 64-bit seed), "
                         f"got seed={seed!r}.")
    return ReLoBRaLo(ranged_leaf("alpha", alpha, 0.0, 1.0),
                     ranged_leaf("expected_rho", expected_rho, 0.0, 1.0),
                     ranged_leaf("temperature", temperature, 0.0, low_open=True),
                     ranged_leaf("eps", eps, 0.0), jax.random.PRNGKey(int(seed)))
