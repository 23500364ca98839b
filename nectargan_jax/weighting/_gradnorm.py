"""Weights from per-loss gradient norms: gradient-norm balancing (Wang et al. 2023) and
GradNorm (Chen et al. 2018).

Both read ``grads[name]`` for each loss they weigh: the gradient of that UNWEIGHTED
loss with respect to the shared parameters (e.g. from ``layer_grads``), and treat the
gradients as constants (their weights carry no gradient to the model).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from nectargan_jax._checks import count_leaf, fraction_leaf, positive_leaf, ranged_leaf
from nectargan_jax.weighting._grads import grad_norms
from nectargan_jax.weighting._rule import Applied, Context, Rule, applied, ratio_or_one


def _check_group(rule: str, names: tuple[str, ...]) -> None:
    if len(names) < 2:
        raise ValueError(f"{rule} balances two losses or more (lm.with_rule({rule}(...), "
                         f"names)), got {len(names)}: {list(names)}.")


class GradNormBalance(Rule):
    """Weights that equalise the per-loss gradient norms, as a moving average updated
    every ``every`` steps. Build it with :func:`grad_norm_balance`.

    Attributes:
      every: ``int32``: steps between updates (a leaf).
      momentum: the weight of the previous weights in the average (a leaf).
      eps: the relative guard in the denominator (a leaf).
      state: ``shape=(k,), dtype=float32``: the current weights, once bound.
    """

    every: jax.Array
    momentum: jax.Array
    eps: jax.Array

    def bind(self, names: tuple[str, ...]) -> GradNormBalance:
        _check_group("grad_norm_balance", names)
        return self.replace(state=jnp.ones((len(names),), jnp.float32))

    def gradients(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """Each loss's own gradient, ``grads[name]``."""
        return names

    def __call__(self, ctx: Context) -> Applied:
        norms = grad_norms(ctx.grads, ctx.names, "grad_norm_balance")
        total = jnp.sum(norms)
        target = total / (norms + self.eps * jnp.mean(norms))
        due = (jnp.remainder(ctx.step, self.every) == 0) & (total > 0)
        weights = jnp.where(due, self.momentum * self.state + (1 - self.momentum) * target,
                            self.state)
        weights = jax.lax.stop_gradient(weights)
        return applied(weights, self.replace(state=weights), len(ctx.names))


def grad_norm_balance(every: int = 1000, momentum: float = 0.9, *,
                      eps: float = 1e-5) -> GradNormBalance:
    """Gradient-norm balancing (Wang, Sankaran, Wang, Perdikaris 2023, "An Expert's
    Guide to Training Physics-informed Neural Networks", its global weights; jaxpi's
    ``grad_norm`` scheme).

    A group rule over ``k >= 2`` losses (``lm.with_rule(grad_norm_balance(), names)``)
    reading ``grads[name]``, the gradient of each unweighted loss with respect to the
    shared parameters. At every step ``t`` with ``t % every == 0`` (step 0 included),
    with ``n_i = ||grads[name_i]||`` (L2 over all leaves)::

        lambda_hat_i = sum_j n_j / (n_i + eps * mean_j n_j)
        lambda_i    <- momentum * lambda_i + (1 - momentum) * lambda_hat_i

    from ``lambda_i = 1``; between updates the weights stay. The weights of a call are
    those after its update, and carry no gradient. Balanced, every ``lambda_hat_i *
    n_i`` equals ``sum_j n_j``. An update whose gradients are all zero is skipped.

    Conventions: the paper writes ``lambda_hat_i = sum_j n_j / n_i`` and
    ``momentum = 0.9``; jaxpi's code uses the mean over the losses instead of the sum
    (its weights are ``1/k`` of these), guards the denominator with ``1e-5 * mean_j
    n_j`` (as here), and applies the update computed after its step ``t`` from step
    ``t + 1`` (here the call at step ``t`` uses the gradients passed to it at once).
    The step is the manager's count of calls with these losses (from 0).

    The gradients must be passed to every call (the structure is fixed); to skip their
    cost between updates, compute them under ``jax.lax.cond`` on the same condition
    and pass zeros otherwise (all-zero gradients leave the weights as they are).

    Args:
      every: steps between updates (jaxpi's ``update_every_steps``; it uses 1000 in
        most examples), a positive int.
      momentum: the weight of the previous weights in the moving average, in
        ``[0, 1)``.
      eps: the guard, relative to the mean norm, > 0.

    Raises:
      TypeError: ``every`` is not an int; ``momentum`` or ``eps`` is not a real number.
      ValueError: ``every < 1``, ``momentum`` outside ``[0, 1)``, ``eps <= 0``; at
        binding, fewer than 2 losses.
      KeyError: at a call, a loss's gradient missing from ``grads``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nectargan_jax.weighting import Context, grad_norm_balance
      >>> rule = grad_norm_balance(every=10, momentum=0.5).bind(('a', 'b'))
      >>> grads = {'a': jnp.array([3.0, 4.0]), 'b': jnp.array([1.0])}
      >>> out = rule(Context(0, jnp.int32(0), jnp.ones(2), grads, ('a', 'b')))
      >>> [round(w, 3) for w in out.weight.tolist()]  # 0.5 + 0.5 * [6/5, 6/1]
      [1.1, 3.5]
    """
    return GradNormBalance(count_leaf("every", every), fraction_leaf("momentum", momentum),
                           positive_leaf("eps", eps))


class GradNormState(NamedTuple):
    """What ``GradNorm`` keeps between calls."""

    weights: jax.Array  # shape=(k,), float32: w(t)
    initial: jax.Array  # shape=(k,), float32: L(0), the losses of the first call
    started: jax.Array  # shape=(), bool: ``initial`` holds the first call's losses


class GradNorm(Rule):
    """GradNorm's weights, updated by one gradient step per call. Build it with
    :func:`gradnorm`.

    Attributes:
      alpha: the restoring force (a leaf).
      learning_rate: the step size of the weights' update (a leaf).
      state: a :class:`GradNormState` once bound.
    """

    alpha: jax.Array
    learning_rate: jax.Array

    def bind(self, names: tuple[str, ...]) -> GradNorm:
        _check_group("gradnorm", names)
        k = len(names)
        return self.replace(state=GradNormState(jnp.ones((k,), jnp.float32),
                                                jnp.zeros((k,), jnp.float32),
                                                jnp.zeros((), bool)))

    def gradients(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """Each loss's own gradient, ``grads[name]``."""
        return names

    def __call__(self, ctx: Context) -> Applied:
        k = len(ctx.names)
        weights, initial, started = self.state
        norms = grad_norms(ctx.grads, ctx.names, "gradnorm")
        initial = jnp.where(started, initial, ctx.losses)
        ratio = ratio_or_one(ctx.losses, initial)
        relative = ratio_or_one(ratio, jnp.mean(ratio))
        grad = jax.grad(_gradnorm_loss)(weights, norms, relative, self.alpha)
        stepped = weights - self.learning_rate * grad
        renormalised = jax.lax.stop_gradient(k * stepped / jnp.sum(stepped))
        return applied(jax.lax.stop_gradient(weights), self.replace(
            state=GradNormState(renormalised, initial, jnp.ones((), bool))), k)


def _gradnorm_loss(weights: jax.Array, norms: jax.Array, relative: jax.Array,
                   alpha: jax.Array) -> jax.Array:
    """GradNorm's ``L_grad(w) = sum_i |G_i - stop_gradient(mean_j(G_j) r_i**alpha)|`` with
    ``G_i = |w_i| n_i``, the norm of the gradient of ``w_i L_i``."""
    weighted = jnp.abs(weights) * norms
    target = jax.lax.stop_gradient(jnp.mean(weighted) * relative ** alpha)
    return jnp.sum(jnp.abs(weighted - target))


def gradnorm(alpha: float = 1.5, learning_rate: float = 0.025) -> GradNorm:
    """GradNorm (Chen, Badrinarayanan, Lee, Rabinovich 2018, "GradNorm: Gradient
    Normalization for Adaptive Loss Balancing in Deep Multitask Networks", Algorithm 1).

    A group rule over ``k >= 2`` losses (``lm.with_rule(gradnorm(), names)``) reading
    ``grads[name]``, the gradient of each unweighted loss ``L_i`` at the shared layer
    ``W`` (the paper's last shared layer), so ``n_i = ||grads[name_i]||`` and the
    paper's ``G_i = ||grad_W (w_i L_i)|| = |w_i| n_i``. The call at step ``t`` weighs the
    losses by ``w(t)`` (from ``w(0) = 1``, carrying no gradient), then updates them::

        r_i    = (L_i(t) / L_i(0)) / mean_j (L_j(t) / L_j(0))
        L_grad = sum_i | G_i - stop_gradient(mean_j (G_j) * r_i**alpha) |
        w(t+1) = w(t) - learning_rate * d L_grad / d w      (plain gradient descent)
        w(t+1) <- k * w(t+1) / sum_j w_j(t+1)                (so that sum w = k)

    The targets are stop-gradiented as in the paper (the known bug of some ports is a
    target that is not, or an ``L_grad`` that ignores ``w``: the weights never move).
    ``L(0)`` is the losses of the rule's first call, kept in its state (a loss with
    ``L_i(0) = 0`` has ratio 1). Each step moves ``w_i`` by ``learning_rate * n_i``,
    so choose ``learning_rate`` for the scale of the gradient norms; the paper trains
    ``w`` with the network's optimizer and does not clip it, nor does this rule.

    Weights at and below 0: a step larger than a weight makes it negative. Its ``G_i``
    stays ``|w_i| n_i`` (a norm), so ``d G_i / d w_i = sign(w_i) n_i`` and the update
    moves ``|w_i|`` toward its target: a negative weight whose ``G_i`` is below its
    target grows more negative, and is applied to its loss as it is (the loss is then
    maximised, as in the paper's unclipped update). A weight exactly 0 takes
    ``d |w| / d w = 1`` (JAX's convention), so it leaves 0 upward when its ``G_i = 0``
    is below its target (always, unless ``n_i = 0`` or its ``r_i = 0``). Wrap the rule
    in ``clip(...)`` to keep the weights applied in a range.

    Args:
      alpha: the restoring force ``alpha`` (LibMTL's default 1.5; the paper uses 0.12
        to 3). 0 pulls every ``w_i n_i`` to their mean.
      learning_rate: the step size of the weights' gradient descent, > 0.

    Raises:
      TypeError: ``alpha`` or ``learning_rate`` is not a real number.
      ValueError: ``alpha < 0``, ``learning_rate <= 0``; at binding, fewer than 2
        losses.
      KeyError: at a call, a loss's gradient missing from ``grads``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nectargan_jax.weighting import Context, gradnorm
      >>> rule = gradnorm(alpha=1.0, learning_rate=0.1).bind(('a', 'b'))
      >>> grads = {'a': jnp.array([3.0, 4.0]), 'b': jnp.array([1.0])}  # n = (5, 1)
      >>> out = rule(Context(0, jnp.int32(0), jnp.ones(2), grads, ('a', 'b')))
      >>> out.weight.tolist()  # w(0)
      [1.0, 1.0]
      >>> out.rule.state.weights.tolist()  # 2 * (1 - 0.1 * 5, 1 + 0.1 * 1) / 1.6
      [0.625, 1.375]
    """
    return GradNorm(ranged_leaf("alpha", alpha, 0), positive_leaf("learning_rate", learning_rate))
