"""The rules' trainable leaves, selected by type (as ``nnx.state(model, nnx.Param)``
selects a model's parameters): a rule wraps what the user's optimizer trains in
``weighting.Trainable``, and the manager picks every such leaf, whatever the rule."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from nectargan_jax.weighting import Trainable


def _is_trainable(node: Any) -> bool:
    return isinstance(node, Trainable)


def trainable_leaves(tree: Any) -> tuple[jax.Array, ...]:
    """The values of every ``Trainable`` in ``tree``, in tree order."""
    return tuple(node.value for node in jax.tree.leaves(tree, is_leaf=_is_trainable)
                 if _is_trainable(node))


def with_trainable_leaves(tree: Any, values: Any) -> Any:
    """``tree`` with the values of its ``Trainable`` leaves replaced by ``values`` (as
    :func:`trainable_leaves` returns them).

    Raises:
      ValueError: ``values`` is not a tuple with one array per ``Trainable``, each of
        its shape.
    """
    nodes, treedef = jax.tree.flatten(tree, is_leaf=_is_trainable)
    slots = [k for k, node in enumerate(nodes) if _is_trainable(node)]
    if not isinstance(values, tuple) or len(values) != len(slots):
        length = len(values) if hasattr(values, "__len__") else "n/a"
        raise ValueError(f"params must be a tuple with one array per trainable leaf "
                         f"({len(slots)}), as weight_params() returns it, got "
                         f"{type(values).__name__} of length {length}.")
    for k, value in zip(slots, values):
        if np.shape(value) != np.shape(nodes[k].value):
            raise ValueError(f"params[{slots.index(k)}] must have the shape of the leaf it "
                             f"replaces, {np.shape(nodes[k].value)}; got shape "
                             f"{np.shape(value)}.")
        nodes[k] = Trainable(value)
    return jax.tree.unflatten(treedef, nodes)
