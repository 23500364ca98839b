"""nectargan_jax: scheduled, weighted, recorded losses for JAX, Flax and optax."""

from nectargan_jax import scheduling
from nectargan_jax.scheduling import Schedule

__version__ = "0.1.0"

__all__ = ["Schedule", "scheduling", "__version__"]
