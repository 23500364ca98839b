"""The one pytree mechanism of the project: frozen dataclasses with static fields.

Fields marked with :func:`static_field` go to the pytree's aux data (they must be
hashable: tuples, strings, numbers, functions); every other field is a child. Unlike
``jax.tree_util.register_dataclass``, unflattening bypasses ``__init__``, so validation
and conversion in ``__post_init__`` run only when a user builds an object, never on the
tracers, sentinels or shape structs that JAX puts into leaves.
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Any, TypeVar

import jax

_T = TypeVar("_T")


def static_field(**kwargs: Any) -> Any:
    """A dataclass field stored in the pytree's aux data (hashable, never traced)."""
    return dataclasses.field(metadata={"static": True}, **kwargs)


def _getter(names: tuple[str, ...]):
    """A fast ``obj -> tuple of attributes`` (flattening runs on every jitted call)."""
    if len(names) == 1:
        get = operator.attrgetter(names[0])
        return lambda obj: (get(obj),)
    return operator.attrgetter(*names) if names else (lambda obj: ())


def pytree_dataclass(cls: type[_T]) -> type[_T]:
    """Makes ``cls`` a frozen dataclass registered as a pytree, with ``.replace``."""
    cls = dataclasses.dataclass(frozen=True, eq=False)(cls)
    fields = dataclasses.fields(cls)
    data = tuple(f.name for f in fields if not f.metadata.get("static"))
    meta = tuple(f.name for f in fields if f.metadata.get("static"))
    keys = tuple(jax.tree_util.GetAttrKey(name) for name in data)
    get_data, get_meta = _getter(data), _getter(meta)

    def flatten_with_keys(obj):
        return list(zip(keys, get_data(obj))), get_meta(obj)

    def flatten(obj):
        return get_data(obj), get_meta(obj)

    def unflatten(aux, children):
        obj = object.__new__(cls)
        obj.__dict__.update(zip(data, children))  # frozen: __setattr__ is blocked
        obj.__dict__.update(zip(meta, aux))
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)

    def replace(self, **updates):
        """Returns a copy with ``updates`` applied (validated like a new object)."""
        return dataclasses.replace(self, **updates)

    if "replace" not in cls.__dict__:
        cls.replace = replace
    return cls
