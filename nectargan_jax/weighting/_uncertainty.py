"""Uncertainty weighting (Kendall, Gal, Cipolla 2018): trainable log-variances."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nectargan_jax._checks import real_leaf
from nectargan_jax.weighting._rule import Applied, Context, Rule, Trainable, applied


class Uncertainty(Rule):
    """Weights ``exp(-s) / 2`` and offsets ``s / 2`` from trainable log-variances ``s``.

    Build it with :func:`uncertainty`.

    Attributes:
      init_log_variance: the value every ``s_i`` starts from (a leaf).
      state: once bound, ``Trainable(s)``, ``s`` of ``shape=(k,), dtype=float32`` (the
        leaves ``LossManager.weight_params`` selects).
    """

    init_log_variance: jax.Array

    def bind(self, names: tuple[str, ...]) -> Uncertainty:
        return self.replace(state=Trainable(jnp.full((len(names),), self.init_log_variance,
                                                     jnp.float32)))

    def __call__(self, ctx: Context) -> Applied:
        s = self.state.value
        return applied(0.5 * jnp.exp(-s), self, len(ctx.names), offset=0.5 * s)


def uncertainty(init_log_variance: float = 0.0) -> Uncertainty:
    """Uncertainty weighting (Kendall, Gal, Cipolla 2018, "Multi-Task Learning Using
    Uncertainty to Weigh Losses for Scene Geometry and Semantics").

    A group rule (``lm.with_rule(uncertainty(), names)``, any number of losses) with
    one trainable log-variance ``s_i = log sigma_i**2`` per loss. Each loss becomes::

        exp(-s_i) / 2 * L_i + s_i / 2        (= L_i / (2 sigma_i**2) + log sigma_i)

    the paper's form for regression losses, as LibMTL's ``UW``: the weight is
    ``exp(-s_i) / 2``, the offset ``s_i / 2``. Gradients flow to ``s`` through both
    (``d/ds_i = (1 - exp(-s_i) L_i) / 2``, zero at ``exp(s_i) = L_i``) and to the model
    through ``exp(-s_i) / 2 * L_i``. The other common form, ``exp(-s_i) L_i + s_i``,
    is exactly twice this one: the same optimum, at twice the learning rate.

    ``s`` is updated by the user's optimizer with the model: take
    ``lm.weight_params()`` into the differentiated parameters, put them back with
    ``lm.with_weight_params(p)`` inside the loss function, and apply the optimizer to
    them. A schedule or number on a loss multiplies the weight, not the offset.

    Args:
      init_log_variance: the initial ``s_i`` (0: weight 1/2). LibMTL starts from -0.5
        (weight ``e**0.5 / 2``, about 0.82).

    Raises:
      TypeError: ``init_log_variance`` is not a real number.
      ValueError: ``init_log_variance`` is NaN or infinite.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nectargan_jax.weighting import Context, uncertainty
      >>> rule = uncertainty().bind(('a', 'b'))
      >>> out = rule(Context(0, jnp.int32(0), jnp.array([2.0, 3.0]), {}, ('a', 'b')))
      >>> out.weight.tolist(), out.offset.tolist()
      ([0.5, 0.5], [0.0, 0.0])
    """
    return Uncertainty(real_leaf("init_log_variance", init_log_variance))
