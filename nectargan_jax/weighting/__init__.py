"""Loss weights that follow the training state: jittable, composable weight rules.

A rule weighs one loss (``LossManager.register(..., weight=rule)``) or a group of
losses (``LossManager.with_rule(rule, names)``). Its state is fixed-shape arrays held
in the manager's leaves and updated inside the step with no host transfer, so a rule
is jitted, vmapped, scanned and checkpointed with the manager. Rules multiply with
numbers, schedules and each other (``gate(1000) * adaptive_last_layer() * 0.8``), and
``clip`` and ``ema`` shape any of them. ``freeze`` turns recorded weights into a rule
that replays them. Your own rule is a ``Rule`` subclass decorated with
``pytree_dataclass`` (array fields are leaves; ``static_field()`` marks structure).
"""

from nectargan_jax._pytree import pytree_dataclass
from nectargan_jax._pytree import static_field
from nectargan_jax.weighting._adaptive import AdaptiveLastLayer
from nectargan_jax.weighting._adaptive import adaptive_last_layer
from nectargan_jax.weighting._balancing import Dwa
from nectargan_jax.weighting._balancing import ReLoBRaLo
from nectargan_jax.weighting._balancing import SoftAdapt
from nectargan_jax.weighting._balancing import dwa
from nectargan_jax.weighting._balancing import relobralo
from nectargan_jax.weighting._balancing import softadapt
from nectargan_jax.weighting._combinators import Clip
from nectargan_jax.weighting._combinators import Ema
from nectargan_jax.weighting._combinators import Gate
from nectargan_jax.weighting._combinators import clip
from nectargan_jax.weighting._combinators import ema
from nectargan_jax.weighting._combinators import gate
from nectargan_jax.weighting._freeze import freeze
from nectargan_jax.weighting._gradnorm import GradNorm
from nectargan_jax.weighting._gradnorm import GradNormBalance
from nectargan_jax.weighting._gradnorm import grad_norm_balance
from nectargan_jax.weighting._gradnorm import gradnorm
from nectargan_jax.weighting._grads import layer_grads
from nectargan_jax.weighting._rule import Applied
from nectargan_jax.weighting._rule import BoundRule
from nectargan_jax.weighting._rule import Context
from nectargan_jax.weighting._rule import OfEpoch
from nectargan_jax.weighting._rule import OfStep
from nectargan_jax.weighting._rule import Product
from nectargan_jax.weighting._rule import Rule
from nectargan_jax.weighting._rule import Scale
from nectargan_jax.weighting._rule import applied
from nectargan_jax.weighting._rule import as_rule
from nectargan_jax.weighting._uncertainty import Uncertainty
from nectargan_jax.weighting._uncertainty import uncertainty

__all__ = [
    "AdaptiveLastLayer", "Applied", "BoundRule", "Clip", "Context", "Dwa", "Ema",
    "Gate", "GradNorm", "GradNormBalance", "OfEpoch", "OfStep", "Product", "ReLoBRaLo",
    "Rule", "Scale", "SoftAdapt", "Uncertainty", "adaptive_last_layer", "applied",
    "as_rule", "clip", "dwa", "ema", "freeze", "gate", "grad_norm_balance", "gradnorm",
    "layer_grads", "pytree_dataclass", "relobralo", "softadapt", "static_field",
    "uncertainty",
]
