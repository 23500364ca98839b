"""Loss weights that follow the training state: jittable, composable weight rules.

A rule weighs one loss (``LossManager.register(..., weight=rule)``) or a group of
losses (``LossManager.with_rule(rule, names)``). Its state is fixed-shape arrays held
in the manager's leaves and updated inside the step with no host transfer, so a rule
is jitted, vmapped, scanned and checkpointed with the manager. Rules multiply with
numbers, schedules and each other (``gate(1000) * adaptive_last_layer() * 0.8``), and
``clip`` and ``ema`` shape any of them. ``freeze`` turns recorded weights into a rule
that replays them. Your own rule is a ``Rule`` subclass (a pytree without a decorator:
array fields are leaves; ``nectargan_jax.pytree.static_field()`` marks structure), its
state made by ``bind`` in its ``state`` field, the gradients it reads declared by
``gradients``, its trainable leaves wrapped in ``Trainable``.
"""

from nectargan_jax.weighting._adaptive import adaptive_last_layer
from nectargan_jax.weighting._balancing import dwa
from nectargan_jax.weighting._balancing import relobralo
from nectargan_jax.weighting._balancing import softadapt
from nectargan_jax.weighting._combinators import clip
from nectargan_jax.weighting._combinators import ema
from nectargan_jax.weighting._combinators import gate
from nectargan_jax.weighting._freeze import freeze
from nectargan_jax.weighting._gradnorm import grad_norm_balance
from nectargan_jax.weighting._gradnorm import gradnorm
from nectargan_jax.weighting._grads import layer_grads
from nectargan_jax.weighting._rule import Applied
from nectargan_jax.weighting._rule import Context
from nectargan_jax.weighting._rule import Rule
from nectargan_jax.weighting._rule import Trainable
from nectargan_jax.weighting._rule import applied
from nectargan_jax.weighting._rule import as_rule
from nectargan_jax.weighting._uncertainty import uncertainty

__all__ = [
    "Applied", "Context", "Rule", "Trainable", "adaptive_last_layer", "applied", "as_rule", "clip",
    "dwa", "ema", "freeze", "gate", "grad_norm_balance", "gradnorm", "layer_grads",
    "relobralo", "softadapt", "uncertainty",
]
