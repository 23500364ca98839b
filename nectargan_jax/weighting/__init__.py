"""Loss weights that follow the training state: jittable, composable weight rules.

A rule weighs one loss (``LossManager.register(..., weight=rule)``) or a group of
losses (``LossManager.with_rule(rule, names)``). Its state is fixed-shape arrays held
in the manager's leaves and updated inside the step with no host transfer, so a rule
is jitted, vmapped, scanned and checkpointed with the manager. Rules multiply with
numbers, schedules and each other (``gate(1000) * adaptive_last_layer() * 0.8``), and
``clip`` and ``ema`` shape any of them. ``freeze`` turns recorded weights into a rule
that replays them.
"""

from nectargan_jax.weighting._combinators import Clip
from nectargan_jax.weighting._combinators import Ema
from nectargan_jax.weighting._combinators import Gate
from nectargan_jax.weighting._combinators import clip
from nectargan_jax.weighting._combinators import ema
from nectargan_jax.weighting._combinators import gate
from nectargan_jax.weighting._freeze import freeze
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

__all__ = [
    "Applied", "BoundRule", "Clip", "Context", "Ema", "Gate", "OfEpoch", "OfStep",
    "Product", "Rule", "Scale", "applied", "as_rule", "clip", "ema", "freeze", "gate",
]
