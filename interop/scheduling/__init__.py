"""The reference's ``nectargan.scheduling``: schedules, schedule functions, schedulers."""

from interop.scheduling.data import Schedule
from interop.scheduling.scheduler import Scheduler
from interop.scheduling.scheduler_torch import TorchScheduler
from interop.scheduling.schedules import ScheduleDefs
from interop.scheduling.schedules import schedule_map

__all__ = ["Schedule", "ScheduleDefs", "Scheduler", "TorchScheduler", "schedule_map"]
