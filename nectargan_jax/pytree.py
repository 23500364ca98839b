"""The project's one pytree mechanism, for your own rules, schedules and loss modules:
frozen dataclasses whose fields are leaves, except those marked static (structure).

``Pytree`` subclasses need no decorator; ``pytree_dataclass`` decorates any class the
same way (``flat=True``: one node for a big object); ``static_field`` marks structure.
"""

from nectargan_jax._pytree import Pytree
from nectargan_jax._pytree import pytree_dataclass
from nectargan_jax._pytree import static_field

__all__ = ["Pytree", "pytree_dataclass", "static_field"]
