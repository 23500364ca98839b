"""The one pytree mechanism of the project: frozen dataclasses with static fields.

Fields marked with :func:`static_field` go to the pytree's aux data (they must be
hashable: tuples, strings, numbers, functions); every other field is a child. Unlike
``jax.tree_util.register_dataclass``, unflattening bypasses ``__init__``, so validation
and conversion in ``__post_init__`` run only when a user builds an object, never on the
tracers, sentinels or shape structs that JAX puts into leaves.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import jax

_T = TypeVar("_T")


def static_field(**kwargs: Any) -> Any:
    """A dataclass field stored in the pytree's aux data (hashable, never traced)."""
    return dataclasses.field(metadata={"static": True}, **kwargs)


def pytree_dataclass(cls: type[_T]) -> type[_T]:
    """Makes ``cls`` a frozen dataclass registered as a pytree, with ``.replace``."""
    cls = dataclasses.dataclass(frozen=True, eq=False)(cls)
    fields = dataclasses.fields(cls)
    data = tuple(f.name for f in fields if not f.metadata.get("static"))
    meta = tuple(f.name for f in fields if f.metadata.get("static"))
    keys = tuple(jax.tree_util.GetAttrKey(name) for name in data)

    def flatten_with_keys(obj):
        return ([(k, getattr(obj, n)) for k, n in zip(keys, data)],
                tuple(getattr(obj, n) for n in meta))

    def flatten(obj):
        return ([getattr(obj, n) for n in data], tuple(getattr(obj, n) for n in meta))

    def unflatten(aux, children):
        obj = object.__new__(cls)
        for name, value in zip(data, children):
            object.__setattr__(obj, name, value)
        for name, value in zip(meta, aux):
            object.__setattr__(obj, name, value)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)

    def replace(self, **updates):
        """Returns a copy with ``updates`` applied (validated like a new object)."""
        return dataclasses.replace(self, **updates)

    cls.replace = replace
    return cls
