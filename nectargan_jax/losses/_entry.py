"""One registered loss: its name, function, tags and weight schedule, and the spec form."""

from __future__ import annotations

from collections.abc import Callable, Sequence
import inspect
import numbers
from typing import Any, NamedTuple

import jax
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
      keep_map: keep the latest weighted per-element map in the records.
    """

    fn: LossFn
    weight: Any = 1.0
    tags: Sequence[str] = ()
    keep_map: bool = False


def as_weight(name: str, weight: Any) -> BaseSchedule:
    """A number becomes a constant schedule; a schedule stays; anything else is rejected."""
    if isinstance(weight, BaseSchedule):
        return weight
    if isinstance(weight, bool) or not isinstance(weight, (numbers.Real, np.ndarray, jax.Array)):
        raise TypeError(
            f"weight of loss {name!r} must be a number or a Schedule (use "
            "nectargan_jax.scheduling.from_optax for an optax schedule), got "
            f"{type(weight).__name__}: {weight!r}.")
    return constant(weight)


def as_tags(name: str, tags: Any) -> tuple[str, ...]:
    """Tags as a tuple of strings (a single string is one tag)."""
    if isinstance(tags, str):
        return (tags,)
    tags = tuple(tags)
    if not all(isinstance(t, str) for t in tags):
        raise TypeError(f"tags of loss {name!r} must be strings, got {tags!r}.")
    return tags


def _accepts_reduction(fn: LossFn) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "reduction" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


@pytree_dataclass
class LossEntry:
    """A registered loss. The weight schedule is the only pytree child.

    Build entries through ``LossManager.register``, which validates them.
    """

    name: str = static_field()
    fn: LossFn = static_field()
    weight: BaseSchedule = 1.0
    tags: tuple[str, ...] = static_field(default=())
    keep_map: bool = static_field(default=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"loss name must be a non-empty string, got {self.name!r}.")
        if not callable(self.fn):
            raise TypeError(f"loss {self.name!r}: fn must be callable (x, y) -> scalar, "
                            f"got {self.fn!r}.")
        object.__setattr__(self, "weight", as_weight(self.name, self.weight))
        object.__setattr__(self, "tags", as_tags(self.name, self.tags))
        if self.keep_map and not _accepts_reduction(self.fn):
            raise TypeError(
                f"loss {self.name!r}: keep_map=True needs a function that accepts "
                "reduction='none' and returns the per-element map.")

    def matches(self, query: Sequence[str] | None) -> bool:
        """Reference tag semantics: None matches all, otherwise any shared tag."""
        return query is None or any(t in query for t in self.tags)
