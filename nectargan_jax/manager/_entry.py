"""One registered loss: its name, function, tags and how its weight is held.

A loss function is either a plain callable (static: hashed and compared by identity,
so use a module-level function, not a lambda made per build) or a pytree callable such
as an ``nnx.Module`` (``VGGPerceptual``): its arrays are leaves of the entry, so new
parameters give new results, jitted and eager alike, and its structure is static.

A weight whose only leaf is four numbers (a ``Schedule``, a constant) is *packed*: the
entry keeps its structure (``packed``, static) and the numbers live in one row of the
objective's ``numbers`` array, so a manager of n such losses carries one weight leaf,
not n. Any other schedule stays in the entry (``weight``) with its own leaves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from nectargan_jax._checks import float_dtype
from nectargan_jax._pytree import owned, pytree_dataclass, static_field
from nectargan_jax.losses import LossSpec
from nectargan_jax.scheduling import BaseSchedule

LossFn = Callable[..., jax.Array]

NUMBERS = 4  # a packed weight's numbers: start_epoch, end_epoch, initial, target


def _check_scalar_weight(name: str, weight: BaseSchedule) -> None:
    """A Schedule weight of one loss holds one set of numbers (vmap batches managers)."""
    numbers = getattr(weight, "numbers", None)
    if numbers is not None and numbers.shape[:-1] != ():
        raise ValueError(f"weight of loss {name!r} must be a scalar (a number or an unstacked "
                         f"Schedule), got a weight of shape {numbers.shape[:-1]}; batch "
                         "whole managers with jax.vmap instead.")


def _is_pytree_callable(fn: Any) -> bool:
    return not jax.tree_util.treedef_is_leaf(jax.tree.structure(fn))


def pack(weight: BaseSchedule) -> tuple[Any, jax.Array | None]:
    """``(structure, numbers)`` of a weight whose one leaf is ``NUMBERS`` floats, else
    ``(None, None)``."""
    leaves, structure = jax.tree.flatten(weight)
    if len(leaves) == 1 and jnp.shape(leaves[0]) == (NUMBERS,) \
            and jnp.issubdtype(jnp.result_type(leaves[0]), jnp.floating):
        return structure, jnp.asarray(leaves[0], float_dtype())
    return None, None


@pytree_dataclass
class LossEntry:
    """A registered loss. A pytree function's arrays, and a weight that is not packed,
    are its leaves; the rest is structure.

    Build entries through ``LossManager.register``, which validates them.

    Attributes:
      name: the loss's name.
      fn: a plain loss function (static), or None when ``module`` holds it.
      packed: the structure of a packed weight (its numbers are a row of the
        objective's ``numbers``), or None.
      weight: a weight schedule that is not packed, or None.
      module: a pytree loss function (an ``nnx.Module``...; its arrays are leaves),
        or None.
      tags: tags for queries.
      map_shape: shape of the per-element map kept (``keep_map``), or None.
    """

    name: str = static_field()
    fn: LossFn | None = static_field()
    packed: Any = static_field(default=None)
    weight: BaseSchedule | None = None
    module: Any = None
    tags: tuple[str, ...] = static_field(default=())
    map_shape: tuple[int, ...] | None = static_field(default=None)

    @classmethod
    def build(cls, name: str, fn: LossFn, weight: Any = 1.0, tags: Any = (),
              keep_map: Any = None) -> tuple[LossEntry, jax.Array]:
        """Validates user input; returns the entry and its row of numbers (zeros for a
        weight that is not packed), both owning their arrays."""
        fn, weight, tags, map_shape = LossSpec(fn, weight, tags, keep_map).checked(name)
        _check_scalar_weight(name, weight)
        packed, row = pack(weight)
        held = None if packed is not None else owned(weight)
        if row is None:
            row = jnp.zeros((NUMBERS,), float_dtype())
        fn, module = (None, owned(fn)) if _is_pytree_callable(fn) else (fn, None)
        return cls(name, fn, packed, held, module, tags, map_shape), owned(row)

    @property
    def function(self) -> LossFn:
        """The loss function, whichever field holds it."""
        return self.fn if self.module is None else self.module

    @property
    def keep_map(self) -> bool:
        """Whether the latest weighted per-element map is kept."""
        return self.map_shape is not None

    def schedule(self, numbers: jax.Array) -> BaseSchedule:
        """The weight schedule, rebuilt from its row of numbers if it is packed."""
        if self.packed is None:
            return self.weight
        return jax.tree.unflatten(self.packed, [numbers])
