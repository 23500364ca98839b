"""GAN health checks: a monitor the manager updates inside the step and reports on the
host (``LossManager(health=HealthChecks(...))``)."""

from nectargan_jax.health._monitor import HealthChecks
from nectargan_jax.health._report import GANHealthWarning
from nectargan_jax.health._report import HealthEvent
from nectargan_jax.health._report import HealthReport

__all__ = ["GANHealthWarning", "HealthChecks", "HealthEvent", "HealthReport"]
