"""Host-side reporting: drains, queries and console strings, on concrete values.

Everything here reads a manager's device state outside the step: nothing is traced,
and reading never changes the state (a drain returns the records; the emptied manager
is a separate value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import numbers
from typing import Any

import numpy as np

from nectargan_jax.losses._history import History

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


def normalize_query(query: str | Sequence[str] | None) -> frozenset[str] | None:
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
    wanted = normalize_query(query)
    if wanted is None:
        return list(range(len(tags_by_name)))
    chosen = [i for i, tags in enumerate(tags_by_name.values()) if not wanted.isdisjoint(tags)]
    if not chosen:
        known = sorted({t for tags in tags_by_name.values() for t in tags})
        raise KeyError(f"query {query!r} matches no loss; known tags: {known}, losses: "
                       f"{list(tags_by_name)} (a query selects losses by tag).")
    return chosen


def check_precision(precision: Any) -> int:
    """``precision`` (digits after the point) as a non-negative int.

    Raises:
      TypeError: not an int (a bool included).
      ValueError: negative.

    Examples:
      >>> check_precision(2)
      2
      >>> check_precision('2')
      Traceback (most recent call last):
      ...
      TypeError: precision must be a non-negative int, got str: '2'.
    """
    if isinstance(precision, (bool, np.bool_)) or not isinstance(precision, numbers.Integral):
        raise TypeError(f"precision must be a non-negative int, got "
                        f"{type(precision).__name__}: {precision!r}.")
    if precision < 0:
        raise ValueError(f"precision must be a non-negative int, got {precision!r}.")
    return int(precision)


def rounded(value: np.ndarray, precision: int) -> float | np.ndarray:
    """``round(value, precision)``: a Python float for a scalar, an array for a batch."""
    value = np.asarray(value, dtype=np.float64)
    return round(float(value), precision) if value.ndim == 0 else np.round(value, precision)


def format_losses(epoch: int, iters: int, values: Mapping[str, object]) -> str:
    """``"(epoch: {e}, iters: {i}) Loss: {name}: {value} {name}: {value} ..."``."""
    pairs = " ".join(f"{name}: {value}" for name, value in values.items())
    return f"(epoch: {epoch}, iters: {iters}) Loss: {pairs}"


def format_weights(weights: Mapping[str, object]) -> str:
    """``"Loss weights: {name}: {weight} ..."``."""
    pairs = " ".join(f"{name}: {weight}" for name, weight in weights.items())
    return f"Loss weights: {pairs}"


def emit(text: str, capture: bool) -> str | None:
    """Returns ``text`` when ``capture`` is set, else prints it."""
    if capture:
        return text
    print(text)
    return None
