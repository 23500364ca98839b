"""Host-side reporting: drains, queries and console strings, on concrete values.

Everything here reads a manager's device state outside the step (under a trace it
raises a ``TypeError`` saying so), and reading never changes the state (a drain returns
the records; the emptied manager is a separate value). A query is None (every loss), a
tag, or a sequence of tags (a loss matches if it has any of them); one that matches no
loss raises ``KeyError`` naming the known tags and losses.

Examples:
  >>> import jax.numpy as jnp
  >>> from nectargan_jax import LossManager
  >>> from nectargan_jax.losses import l1
  >>> lm = LossManager().register('L1', l1, weight=100.0, tags=('G',))
  >>> _, lm = lm.compute('L1', jnp.ones((1, 4, 4, 3)), jnp.zeros((1, 4, 4, 3)))
  >>> loss_values(lm), loss_weights(lm, 'G')
  ({'L1': 100.0}, {'L1': 100.0})
  >>> format_losses(3, 120, loss_values(lm))
  '(epoch: 3, iters: 120) Loss: L1: 100.0'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from nectargan_jax._checks import check_precision, on_host
from nectargan_jax.manager._history import History

if TYPE_CHECKING:
    from nectargan_jax.manager._manager import LossManager

__all__ = ["Records", "format_losses", "format_weights", "loss_tensors", "loss_values",
           "loss_weights"]

Records = dict[str, tuple[np.ndarray, np.ndarray]]
"""``{name: (weighted losses, weights applied)}``, NumPy arrays in record order (the
last axis; leading axes are a vmapped batch of managers)."""


def drain(history: History, names: Sequence[str]) -> Records:
    """Every record made since the last drain, per loss, in order.

    Args:
      history: the device-side history (possibly with leading batch axes).
      names: the losses' names, one per row.

    Raises:
      OverflowError: a loss recorded more than ``capacity`` values since the last drain
        (the message names it and says how many were dropped).
    """
    fill = np.asarray(history.fill)
    capacity = history.capacity
    over = fill - capacity
    if np.any(over > 0):
        worst = np.unravel_index(int(np.argmax(over)), over.shape)
        raise OverflowError(
            f"loss {names[worst[-1]]!r} dropped {int(over[worst])} records: it recorded "
            f"{int(fill[worst])} values since the last drain, more than "
            f"capacity={capacity}. Drain (or flush) at least every {capacity} records, "
            "or build the manager with a larger capacity.")
    data = np.asarray(history.records)
    per_member = fill.reshape(-1, len(names))
    records: Records = {}
    for row, name in enumerate(names):
        counts = set(per_member[:, row].tolist())
        if len(counts) > 1:
            raise ValueError(f"loss {name!r} was recorded a different number of times "
                             f"across the batch of managers: {sorted(counts)}.")
        n = counts.pop() if counts else 0
        records[name] = (data[..., row, :n, 0].copy(), data[..., row, :n, 1].copy())
    return records


def _normalize_query(query: str | Sequence[str] | None) -> frozenset[str] | None:
    """A query as a set of tags: None (every loss), one tag (a string), or any of several.

    Raises:
      TypeError: anything else, or a sequence holding non-strings.
    """
    if query is None:
        return None
    if isinstance(query, str):
        return frozenset((query,))
    if isinstance(query, (list, tuple, set, frozenset)) and all(
            isinstance(tag, str) for tag in query):
        return frozenset(query)
    raise TypeError(f"query must be None, a tag (str) or a sequence of tags, got {query!r}.")


def select(tags_by_name: Mapping[str, tuple[str, ...]],
           query: str | Sequence[str] | None) -> list[int]:
    """Indices of the losses a query matches (any shared tag; None matches every loss).

    Raises:
      KeyError: the query matches no loss (the message lists the known tags and names).
      TypeError: a malformed query.
    """
    wanted = _normalize_query(query)
    if wanted is None:
        return list(range(len(tags_by_name)))
    chosen = [i for i, tags in enumerate(tags_by_name.values()) if not wanted.isdisjoint(tags)]
    if not chosen:
        known = sorted({t for tags in tags_by_name.values() for t in tags})
        raise KeyError(f"query {query!r} matches no loss; known tags: {known}, losses: "
                       f"{list(tags_by_name)} (a query selects losses by tag).")
    return chosen


def _rounded(value: np.ndarray, precision: int) -> float | np.ndarray:
    """``round(value, precision)``: a Python float for a scalar, an array for a batch."""
    value = np.asarray(value, dtype=np.float64)
    return round(float(value), precision) if value.ndim == 0 else np.round(value, precision)


def _chosen(manager: LossManager, query: Any) -> list[int]:
    return select({e.name: e.tags for e in manager.entries}, query)


def loss_values(manager: LossManager, query: Any = None, precision: int = 2,
                missing: Any = None) -> dict[str, Any]:
    """Latest weighted loss of each matching loss, rounded to ``precision``.

    Args:
      manager: a ``LossManager`` (concrete: outside jit).
      query: see the module's docstring.
      precision: digits after the point.
      missing: shown for a loss that has not been computed yet (e.g. ``'n/a'``); None
        raises ``IndexError`` instead.

    Raises:
      IndexError: a matching loss has not been computed yet (and ``missing`` is None).
      TypeError: called under a trace.
    """
    on_host("loss_values", manager.history)
    check_precision(precision)
    latest = np.asarray(manager.history.latest_loss)
    total = np.asarray(manager.history.total)
    out = {}
    for i in _chosen(manager, query):
        name = manager.names[i]
        if np.any(total[..., i] == 0):
            if missing is None:
                raise IndexError(f"loss {name!r} has not been computed yet.")
            out[name] = missing
        else:
            out[name] = _rounded(latest[..., i], precision)
    return out


def loss_weights(manager: LossManager, query: Any = None, precision: int = 2
                 ) -> dict[str, Any]:
    """Weight applied most recently to each matching loss (its epoch-0 weight before
    the first computation), rounded to ``precision``.

    Raises:
      TypeError: called under a trace.
    """
    on_host("loss_weights", manager.history)
    check_precision(precision)
    latest = np.asarray(manager.history.latest_weight)
    return {manager.names[i]: _rounded(latest[..., i], precision)
            for i in _chosen(manager, query)}


def loss_tensors(manager: LossManager, query: Any = None) -> dict[str, jax.Array]:
    """Latest weighted map (``keep_map`` losses) or weighted value of matching losses."""
    maps = manager.history.maps
    return {manager.names[i]: maps[i] if maps[i] is not None
            else manager.history.latest_loss[..., i] for i in _chosen(manager, query)}


def format_losses(epoch: int, iters: int, values: Mapping[str, object]) -> str:
    """``"(epoch: {e}, iters: {i}) Loss: {name}: {value} {name}: {value} ..."``."""
    pairs = " ".join(f"{name}: {value}" for name, value in values.items())
    return f"(epoch: {epoch}, iters: {iters}) Loss: {pairs}"


def format_weights(weights: Mapping[str, object]) -> str:
    """``"Loss weights: {name}: {weight} ..."``."""
    pairs = " ".join(f"{name}: {weight}" for name, weight in weights.items())
    return f"Loss weights: {pairs}"
