"""The one pytree mechanism of the project: frozen dataclasses with static fields.

Fields marked with :func:`static_field` go to the pytree's aux data; every other field
is a child. Aux data is structure, never state: a static field must be hashable and
compare by value (tuples, strings, numbers, module-level functions), and may hold no
array, directly or inside a tuple, a ``functools.partial``, a closure or a pytree.
Construction checks this (``TypeError`` naming the field), so two objects built the
same way have equal aux data and share one compiled program.

Unlike ``jax.tree_util.register_dataclass``, unflattening bypasses ``__init__``, so
validation and conversion in ``__post_init__`` run only when a user builds an object,
never on the tracers, sentinels or shape structs that JAX puts into leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
import functools
import operator
import types
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

_T = TypeVar("_T")
_MAX_DEPTH = 4


def static_field(**kwargs: Any) -> Any:
    """A dataclass field stored in the pytree's aux data (hashable, never traced)."""
    return dataclasses.field(metadata={"static": True}, **kwargs)


def find_array(value: Any, depth: int = 0) -> str | None:
    """Where ``value`` holds an array (``'[1]'``, ``'closure of f'``...), or None.

    Looks through containers, ``functools.partial`` arguments, closure cells and pytree
    leaves, a few levels deep: what a static field must never hold.
    """
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        return f"an array of shape {np.shape(value)}"
    if depth >= _MAX_DEPTH or isinstance(value, (str, bytes, int, float, complex, type)):
        return None
    if isinstance(value, Mapping):
        items = [(f"[{k!r}]", v) for k, v in value.items()]
    elif isinstance(value, (tuple, list, set, frozenset)):
        items = [(f"[{i}]", v) for i, v in enumerate(value)]
    elif isinstance(value, functools.partial):
        items = [("partial argument", v) for v in (value.func, *value.args,
                                                   *value.keywords.values())]
    elif isinstance(value, types.FunctionType):
        cells = value.__closure__ or ()
        items = [(f"closure of {value.__name__}", c.cell_contents) for c in cells
                 if _cell_is_set(c)]
    else:
        leaves = jax.tree.leaves(value)
        if leaves == [value]:
            return None
        items = [("pytree leaf", leaf) for leaf in leaves]
    for where, item in items:
        found = find_array(item, depth + 1)
        if found is not None:
            return f"{where}: {found}"
    return None


def _cell_is_set(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 (an empty cell raises)
    except ValueError:
        return False
    return True


def check_static(owner: str, name: str, value: Any) -> None:
    """Raises ``TypeError`` unless ``value`` can be aux data: no arrays, hashable."""
    found = find_array(value)
    if found is not None:
        raise TypeError(
            f"{owner}.{name} is static pytree data and must not hold arrays (state is a "
            f"leaf, or JAX would bake it into the compiled program); it holds {found}.")
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"{owner}.{name} is static pytree data and must be hashable (use tuples, not "
            f"lists or dicts), got {type(value).__name__}: {value!r}.") from None


def _getter(names: tuple[str, ...]):
    """A fast ``obj -> tuple of attributes`` (flattening runs on every jitted call)."""
    if len(names) == 1:
        get = operator.attrgetter(names[0])
        return lambda obj: (get(obj),)
    return operator.attrgetter(*names) if names else (lambda obj: ())


def pytree_dataclass(cls: type[_T] | None = None, *, flat: bool = False):
    """Makes ``cls`` a frozen dataclass registered as a pytree, with ``.replace``.

    Static fields are checked with :func:`check_static` after ``__init__``. A class
    already made one (a :class:`Pytree` subclass, say) is returned as it is.

    Args:
      cls: the class (the decorator also works as ``@pytree_dataclass(flat=True)``).
      flat: register ``cls`` as ONE pytree node whose children are the leaves of all
        its data fields, the fields' own structure going into the aux data; an
        unflattened object keeps those leaves and rebuilds its fields on first access.
        Passing such an object through ``jit`` then costs one Python call each way
        instead of one per nested node (tens of microseconds a call for a manager of
        a few dozen nodes). The result is the same pytree of leaves.
    """
    if cls is None:
        return functools.partial(pytree_dataclass, flat=flat)
    if cls in _REGISTERED:
        return cls
    _REGISTERED.add(cls)
    cls = dataclasses.dataclass(frozen=True, eq=False)(cls)
    fields = dataclasses.fields(cls)
    data = tuple(f.name for f in fields if not f.metadata.get("static"))
    meta = tuple(f.name for f in fields if f.metadata.get("static"))
    get_data, get_meta = _getter(data), _getter(meta)
    if flat:
        _register_flat(cls, data, get_data, meta, get_meta)
    else:
        _register_nested(cls, data, get_data, meta, get_meta)

    init = cls.__init__

    @functools.wraps(init)
    def checked_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        for name in meta:
            check_static(cls.__name__, name, getattr(self, name))

    cls.__init__ = checked_init

    def replace(self, **updates):
        """Returns a copy with ``updates`` applied (validated like a new object)."""
        return dataclasses.replace(self, **updates)

    if "replace" not in cls.__dict__:
        cls.replace = replace
    return cls


_REGISTERED: set[type] = set()


class Pytree:
    """Base class whose subclasses are pytree dataclasses without a decorator.

    Subclassing is enough (as with ``equinox.Module``): each subclass is made a frozen
    dataclass registered as a pytree, exactly as :func:`pytree_dataclass` makes it.
    Its fields are leaves unless marked with :func:`static_field`.

    Examples:
      >>> import jax.numpy as jnp
      >>> class Pair(Pytree):
      ...     a: jnp.ndarray
      ...     tag: str = static_field(default="x")
      >>> jax.tree.leaves(Pair(jnp.ones(2)))
      [Array([1., 1.], dtype=float32)]
    """

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        pytree_dataclass(cls)


def owned(tree: Any) -> Any:
    """``tree`` with every concrete array copied: an object owns its buffers, so donating
    it never deletes an array the caller also holds (a Schedule shared with an optimizer
    or with another loss)."""
    def copy(leaf):
        if isinstance(leaf, jax.Array) and not isinstance(leaf, jax.core.Tracer):
            return jnp.array(leaf, copy=True)
        return leaf
    return jax.tree.map(copy, tree)


def _register_nested(cls, data, get_data, meta, get_meta) -> None:
    """Each data field is a child (itself flattened by JAX)."""
    keys = tuple(jax.tree_util.GetAttrKey(name) for name in data)

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


_LEAVES, _TREEDEF = "_flat_leaves", "_flat_treedef"


def _register_flat(cls, data, get_data, meta, get_meta) -> None:
    """One node whose children are all the leaves of the data fields (see ``flat``)."""

    def parts(obj):
        state = obj.__dict__
        if _LEAVES in state and data[0] not in state:
            return state[_LEAVES], state[_TREEDEF]
        return jax.tree.flatten(get_data(obj))

    def flatten(obj):
        leaves, treedef = parts(obj)
        return leaves, (get_meta(obj), treedef)

    def flatten_with_keys(obj):
        state = obj.__dict__
        if _LEAVES in state and data[0] not in state:
            obj.__getattr__(data[0])  # rebuild the fields to name the leaves
        paths, treedef = jax.tree_util.tree_flatten_with_path(get_data(obj))
        keyed = [(jax.tree_util.GetAttrKey(data[path[0].idx]
                                           + jax.tree_util.keystr(path[1:])), leaf)
                 for path, leaf in paths]
        return keyed, (get_meta(obj), treedef)

    def unflatten(aux, leaves):
        obj = object.__new__(cls)
        obj.__dict__.update(zip(meta, aux[0]))
        obj.__dict__[_LEAVES], obj.__dict__[_TREEDEF] = list(leaves), aux[1]
        return obj

    def __getattr__(self, name):
        state = self.__dict__
        if name in data and _LEAVES in state:
            state.update(zip(data, jax.tree.unflatten(state[_TREEDEF], state[_LEAVES])))
            return state[name]
        raise AttributeError(f"{cls.__name__!r} object has no attribute {name!r}")

    def __getstate__(self):
        for name in data:
            getattr(self, name)
        return {k: v for k, v in self.__dict__.items() if k not in (_LEAVES, _TREEDEF)}

    for name in data:  # a default stored on the class would hide __getattr__
        if name in cls.__dict__:
            delattr(cls, name)
    cls.__getattr__ = __getattr__
    cls.__getstate__ = __getstate__
    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
