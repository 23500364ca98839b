"""Pure, jittable schedules of loss weights and learning rates, and the optax bridge.

Factories build the built-in kinds, like optax's ``linear_schedule``:
``linear(start_epoch, end_epoch, initial_value, target_value)``, ``exponential(...,
epsilon=..., allow_zero_weights=..., silent=...)``, ``cosine(...)`` and
``constant(value)``, each a :class:`Schedule`. The curve functions behind the kinds,
``(schedule, epoch, **options) -> value``, are ``schedule_functions()[kind]``;
``register_schedule`` adds a kind.
"""

from nectargan_jax.scheduling._compose import JoinedSchedule
from nectargan_jax.scheduling._compose import WarmupSchedule
from nectargan_jax.scheduling._compose import join_schedules
from nectargan_jax.scheduling._compose import warmup
from nectargan_jax.scheduling._factories import constant
from nectargan_jax.scheduling._factories import cosine
from nectargan_jax.scheduling._factories import exponential
from nectargan_jax.scheduling._factories import linear
from nectargan_jax.scheduling._functions import register_schedule
from nectargan_jax.scheduling._functions import schedule_functions
from nectargan_jax.scheduling._optax import AsOptaxSchedule
from nectargan_jax.scheduling._optax import OptaxSchedule
from nectargan_jax.scheduling._optax import current_learning_rate
from nectargan_jax.scheduling._optax import from_optax
from nectargan_jax.scheduling._optax import scheduled_optimizer
from nectargan_jax.scheduling._optax import to_optax
from nectargan_jax.scheduling._piecewise import PiecewiseLinear
from nectargan_jax.scheduling._piecewise import piecewise_linear
from nectargan_jax.scheduling._schedule import BaseSchedule
from nectargan_jax.scheduling._schedule import DEFAULT_END_EPOCH
from nectargan_jax.scheduling._schedule import Schedule
from nectargan_jax.scheduling._schedule import stack

__all__ = [
    "AsOptaxSchedule", "BaseSchedule", "DEFAULT_END_EPOCH", "JoinedSchedule",
    "OptaxSchedule", "PiecewiseLinear", "Schedule", "WarmupSchedule", "constant", "cosine",
    "current_learning_rate", "exponential", "from_optax", "join_schedules", "linear",
    "piecewise_linear", "register_schedule", "schedule_functions", "scheduled_optimizer",
    "stack", "to_optax", "warmup",
]
