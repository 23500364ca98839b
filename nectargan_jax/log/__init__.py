"""The loss log: ``loss_log.json`` in the reference's structure, durable appends (a
journal), strict reading, salvage of damaged files.

A log is a *sink*: ``append(records)`` takes what ``LossManager.drain`` gives, and
``records()`` / ``count()`` read it back; nothing outside this package knows the file
format.
"""

from nectargan_jax.log._format import LOG_NAME
from nectargan_jax.log._format import DamagedLogError
from nectargan_jax.log._log import LogRecovery
from nectargan_jax.log._log import LossLog
from nectargan_jax.log._log import read_records

__all__ = ["DamagedLogError", "LOG_NAME", "LogRecovery", "LossLog", "read_records"]
