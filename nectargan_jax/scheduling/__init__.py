"""Pure, jittable schedules of loss weights and learning rates, and the optax bridge."""

from nectargan_jax.scheduling._compose import JoinedSchedule
from nectargan_jax.scheduling._compose import WarmupSchedule
from nectargan_jax.scheduling._compose import join_schedules
from nectargan_jax.scheduling._compose import warmup
from nectargan_jax.scheduling._functions import constant as constant_fn
from nectargan_jax.scheduling._functions import cosine
from nectargan_jax.scheduling._functions import exponential
from nectargan_jax.scheduling._functions import linear
from nectargan_jax.scheduling._functions import register_schedule
from nectargan_jax.scheduling._functions import schedule_functions
from nectargan_jax.scheduling._optax import AsOptaxSchedule
from nectargan_jax.scheduling._optax import OptaxSchedule
from nectargan_jax.scheduling._optax import current_learning_rate
from nectargan_jax.scheduling._optax import from_optax
from nectargan_jax.scheduling._optax import scheduled_optimizer
from nectargan_jax.scheduling._optax import to_optax
from nectargan_jax.scheduling._schedule import BaseSchedule
from nectargan_jax.scheduling._schedule import DEFAULT_END_EPOCH
from nectargan_jax.scheduling._schedule import Schedule
from nectargan_jax.scheduling._schedule import constant
from nectargan_jax.scheduling._schedule import stack

__all__ = [
    "AsOptaxSchedule", "BaseSchedule", "DEFAULT_END_EPOCH", "JoinedSchedule",
    "OptaxSchedule", "Schedule", "WarmupSchedule", "constant", "constant_fn", "cosine",
    "current_learning_rate", "exponential", "from_optax", "join_schedules", "linear",
    "register_schedule", "schedule_functions", "scheduled_optimizer", "stack", "to_optax",
    "warmup",
]
