"""nectargan_jax: scheduled, weighted, recorded losses for JAX, Flax and optax."""

from nectargan_jax import losses
from nectargan_jax import scheduling
from nectargan_jax.losses import LossLog
from nectargan_jax.losses import LossManager
from nectargan_jax.losses import LossSpec
from nectargan_jax.scheduling import Schedule
from nectargan_jax.scheduling import current_learning_rate
from nectargan_jax.scheduling import scheduled_optimizer

__version__ = "0.1.0"

__all__ = ["LossLog", "LossManager", "LossSpec", "Schedule", "current_learning_rate",
           "losses", "scheduled_optimizer", "scheduling", "__version__"]
