"""nectargan_jax: scheduled, weighted, recorded losses for JAX, Flax and optax.

Packages: ``scheduling`` (schedules, the optax bridge), ``weighting`` (weight rules),
``losses`` (loss functions and specs), ``manager`` (the LossManager and reporting),
``health`` (GAN health checks), ``log`` (the loss log), ``pytree`` (the pytree
mechanism), ``models`` and ``train`` (the pix2pix trainer). The names below are
imported on first use, so ``import nectargan_jax.scheduling`` loads no more than it needs
(no Flax).
"""

import importlib
from typing import Any

__version__ = "0.1.0"

_NAMES = {
    "LossLog": "nectargan_jax.log",
    "LossManager": "nectargan_jax.manager",
    "LossSpec": "nectargan_jax.losses",
    "Schedule": "nectargan_jax.scheduling",
    "current_learning_rate": "nectargan_jax.scheduling",
    "scheduled_optimizer": "nectargan_jax.scheduling",
}
_PACKAGES = ("health", "log", "losses", "manager", "models", "pytree", "scheduling", "train",
             "weighting")

__all__ = [*sorted(_NAMES), *_PACKAGES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    elif name in _PACKAGES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
