"""The LossManager: named losses weighted by schedules and rules, recorded on the device.

``LossManager`` is the facade over the pure objective (weights, functions -> an
:class:`Evaluation`), the device-side ``History`` and an optional monitor; ``flush``
drains its records into any sink with ``append(records)`` (a ``LossLog``). Queries and
console strings over a manager's records are functions in ``reporting``.
"""

from nectargan_jax.manager import reporting
from nectargan_jax.manager._manager import LossManager
from nectargan_jax.manager._manager import Monitor
from nectargan_jax.manager._manager import Sink
from nectargan_jax.manager._objective import Evaluation

__all__ = ["Evaluation", "LossManager", "Monitor", "Sink", "reporting"]
