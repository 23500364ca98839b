"""``LossSpec``: a named loss as a spec declares it, and the checks of its parts (shared
by specs and by ``LossManager.register``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
import inspect
import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

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

    def checked(self, name: str) -> LossSpec:
        """This spec validated as loss ``name``'s: the weight as a schedule, the tags as a
        tuple, ``keep_map`` as a shape tuple or None.

        Raises:
          TypeError: a bad name, function, weight or tags; ``keep_map`` with a function
            that does not take ``reduction='none'``.
          ValueError: a non-finite weight, a bad ``keep_map``.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"loss name must be a non-empty string, got {name!r}.")
        if not callable(self.fn):
            raise TypeError(f"loss {name!r}: fn must be callable (x, y) -> scalar, got "
                            f"{self.fn!r}.")
        map_shape = as_map_shape(name, self.keep_map)
        if map_shape is not None and not _accepts_reduction(self.fn):
            raise TypeError(
                f"loss {name!r}: keep_map needs a function that accepts "
                "reduction='none' and returns the per-element map.")
        return LossSpec(self.fn, as_weight(name, self.weight), as_tags(name, self.tags),
                        map_shape)


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
    """Whether ``fn`` takes ``reduction=`` (needed to keep a per-element map)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "reduction" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
