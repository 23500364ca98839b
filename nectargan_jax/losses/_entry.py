"""One registered loss: its name, function, tags and weight schedule, and the spec form.

A loss function is either a plain callable (static: hashed and compared by identity,
so use a module-level function, not a lambda made per build) or a pytree callable such
as an ``nnx.Module`` (``VGGPerceptual``): its arrays are leaves of the entry, so new
parameters give new results, jitted and eager alike, and its structure is static.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import inspect
import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nectargan_jax._pytree import pytree_dataclass, static_field
from nectargan_jax.scheduling import BaseSchedule, constant

LossFn = Callable[..., jax.Array]


class LossSpec(NamedTuple):
    """A named loss as a spec declares it: ``spec(...) -> Mapping[str, LossSpec]``.

    Attributes:
      fn: ``(x, y) -> scalar``; with ``keep_map`` it must also accept
        ``reduction='none'`` and return the per-element map.
      weight: a number (constant weight) or a schedule.
      tags: tags for queries (any tag matches).
      keep_map: the shape of the per-element map to keep (the latest weighted map is
        kept in the records), or None.
    """

    fn: LossFn
    weight: Any = 1.0
    tags: Sequence[str] = ()
    keep_map: Sequence[int] | None = None


def owned(tree: Any) -> Any:
    """``tree`` with every concrete array copied: an entry owns its buffers, so donating
    a manager never deletes an array the caller also holds (a Schedule shared with an
    optimizer or with another loss)."""
    def copy(leaf):
        if isinstance(leaf, jax.Array) and not isinstance(leaf, jax.core.Tracer):
            return jnp.array(leaf, copy=True)
        return leaf
    return jax.tree.map(copy, tree)


def as_weight(name: str, weight: Any) -> BaseSchedule:
    """A number becomes a constant schedule; a schedule stays; anything else is rejected."""
    if isinstance(weight, BaseSchedule):
        return weight
    if isinstance(weight, (bool, np.bool_)) or not isinstance(
            weight, (numbers.Real, np.ndarray, np.generic, jax.Array)):
        raise TypeError(
            f"weight of loss {name!r} must be a number or a Schedule (use "
            "nectargan_jax.scheduling.from_optax for an optax schedule), got "
            f"{type(weight).__name__}: {weight!r}.")
    if isinstance(weight, (np.ndarray, np.generic, jax.Array)) and not (
            jnp.issubdtype(weight.dtype, jnp.floating)
            or jnp.issubdtype(weight.dtype, jnp.integer)):
        raise TypeError(f"weight of loss {name!r} must be a real number, got dtype "
                        f"{weight.dtype}.")
    if not isinstance(weight, jax.core.Tracer) and not np.all(np.isfinite(weight)):
        raise ValueError(f"weight of loss {name!r} must be finite, got weight={weight!r}.")
    return constant(weight)


def _check_scalar_weight(name: str, weight: BaseSchedule) -> None:
    """A Schedule weight of one loss holds one set of numbers (vmap batches managers)."""
    numbers = getattr(weight, "numbers", None)
    if numbers is not None and numbers.shape[:-1] != ():
        raise ValueError(f"weight of loss {name!r} must be a scalar (a number or an unstacked "
                         f"Schedule), got a weight of shape {numbers.shape[:-1]}; batch "
                         "whole managers with jax.vmap instead.")


def as_tags(name: str, tags: Any) -> tuple[str, ...]:
    """Tags as a tuple of strings (a single string is one tag)."""
    if isinstance(tags, str):
        return (tags,)
    if not isinstance(tags, (tuple, list)) or not all(isinstance(t, str) for t in tags):
        raise TypeError(f"tags of loss {name!r} must be a string or a sequence of strings, "
                        f"got {tags!r}.")
    return tuple(tags)


def as_map_shape(name: str, keep_map: Any) -> tuple[int, ...] | None:
    """``keep_map`` as a shape tuple (None: no map kept)."""
    if keep_map is None or keep_map is False:
        return None
    if keep_map is True:
        raise ValueError(
            f"loss {name!r}: keep_map must be the shape of the per-element map to keep, "
            "e.g. keep_map=(1, 256, 256, 3) (the records are allocated at registration, "
            "so their structure never changes), got keep_map=True.")
    shape = tuple(keep_map) if isinstance(keep_map, (tuple, list)) else None
    if not shape or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool)
                            and d > 0 for d in shape):
        raise ValueError(f"loss {name!r}: keep_map must be a shape (a tuple of positive "
                         f"ints) or None, got keep_map={keep_map!r}.")
    return tuple(int(d) for d in shape)


def _accepts_reduction(fn: LossFn) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "reduction" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _is_pytree_callable(fn: Any) -> bool:
    return not jax.tree_util.treedef_is_leaf(jax.tree.structure(fn))


@pytree_dataclass
class LossEntry:
    """A registered loss. The weight and a pytree function's arrays are its leaves.

    Build entries through ``LossManager.register``, which validates them.

    Attributes:
      name: the loss's name.
      fn: a plain loss function (static), or None when ``module`` holds it.
      weight: the weight schedule (a leaf).
      module: a pytree loss function (an ``nnx.Module``...; its arrays are leaves),
        or None.
      tags: tags for queries.
      map_shape: shape of the per-element map kept (``keep_map``), or None.
    """

    name: str = static_field()
    fn: LossFn | None = static_field()
    weight: BaseSchedule = 1.0
    module: Any = None
    tags: tuple[str, ...] = static_field(default=())
    map_shape: tuple[int, ...] | None = static_field(default=None)

    @classmethod
    def build(cls, name: str, fn: LossFn, weight: Any = 1.0, tags: Any = (),
              keep_map: Any = None) -> LossEntry:
        """Validates user input and builds an entry that owns its arrays."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"loss name must be a non-empty string, got {name!r}.")
        if not callable(fn):
            raise TypeError(f"loss {name!r}: fn must be callable (x, y) -> scalar, got "
                            f"{fn!r}.")
        map_shape = as_map_shape(name, keep_map)
        if map_shape is not None and not _accepts_reduction(fn):
            raise TypeError(
                f"loss {name!r}: keep_map needs a function that accepts "
                "reduction='none' and returns the per-element map.")
        weight, tags = as_weight(name, weight), as_tags(name, tags)
        _check_scalar_weight(name, weight)
        if _is_pytree_callable(fn):
            return cls(name, None, owned(weight), owned(fn), tags, map_shape)
        return cls(name, fn, owned(weight), None, tags, map_shape)

    @property
    def function(self) -> LossFn:
        """The loss function, whichever field holds it."""
        return self.fn if self.module is None else self.module

    @property
    def keep_map(self) -> bool:
        """Whether the latest weighted per-element map is kept."""
        return self.map_shape is not None

    def matches(self, tags: frozenset[str] | None) -> bool:
        """None matches every loss; otherwise any shared tag matches."""
        return tags is None or not tags.isdisjoint(self.tags)
