"""Pure loss functions, the LossManager pytree, the loss log and loss specs."""

from nectargan_jax.losses._entry import LossEntry
from nectargan_jax.losses._entry import LossSpec
from nectargan_jax.losses._history import History
from nectargan_jax.losses._manager import LossManager

__all__ = ["History", "LossEntry", "LossManager", "LossSpec"]
