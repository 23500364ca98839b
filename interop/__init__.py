"""interop: the reference NectarGAN API (PyTorch) on top of the nectargan_jax core.

Change the import prefix ``nectargan.`` to ``interop.`` and the reference's code runs
unchanged: the modules keep the reference's paths (``interop.scheduling.data.Schedule``,
``interop.losses.loss_manager.LossManager``, ``interop.config.config_manager.
ConfigManager``, ...) and its names, signatures, numbers, printed strings and files
(config files included: the reference's default config ships as package data).
Loss functions stay torch modules; schedule values are computed by
``nectargan_jax.scheduling`` (memoised per schedule and epoch). ``to_jax``/``to_torch``
move tensors through DLPack, and ``to_core_schedule``/``to_core_manager`` convert to the
JAX core.

Deliberate differences from the reference (its defects, fixed):

- D1: a loss registered without a schedule or tags gets its own ``Schedule()`` and tags
  list (the reference shares one, so all such losses weigh the last registered weight).
- D2: history and log record the weight applied at each call, not the constant
  ``loss_weight``.
- D3: ``end_epoch <= start_epoch`` is a ``ValueError`` when the Schedule is built.
- D4: an exponential schedule with a negative value is a ``ValueError``.
- Integer schedule values work; an unknown pix2pix subspec is a ``ValueError``; the log
  is created on the first write without ``export_base_log()``; the latest loss value
  stays queryable after the history is written to the log; ``TorchScheduler``'s default
  schedule is an instance; every log write is atomic (temporary file, then rename); bad
  input (a config lacking a setting read, images of the wrong rank) is a clear error.
"""

from interop.config.config_data import Config
from interop.config.config_manager import GROUP_SCHEMA
from interop.config.config_manager import ConfigManager
from interop.dlpack import to_jax
from interop.dlpack import to_torch
from interop.losses.lm_data import LMHistory
from interop.losses.lm_data import LMLoss
from interop.losses.loss_manager import LossManager
from interop.losses.losses import Laplacian
from interop.losses.losses import Sobel
from interop.losses.losses import VGGPerceptual
from interop.losses.pix2pix_objective import pix2pix
from interop.migrate import to_core_manager
from interop.migrate import to_core_schedule
from interop.scheduling.data import Schedule
from interop.scheduling.scheduler import Scheduler
from interop.scheduling.scheduler_torch import TorchScheduler
from interop.scheduling.schedules import ScheduleDefs
from interop.scheduling.schedules import schedule_map

__all__ = [
    "GROUP_SCHEMA", "Config", "ConfigManager", "LMHistory", "LMLoss", "Laplacian",
    "LossManager", "Schedule", "ScheduleDefs", "Scheduler", "Sobel", "TorchScheduler",
    "VGGPerceptual", "pix2pix", "schedule_map", "to_core_manager", "to_core_schedule",
    "to_jax", "to_torch",
]
