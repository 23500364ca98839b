"""Checking what ``LossLog.append`` is given, and turning it into the file's lists."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np

ACCEPTED = "{name: (losses, weights)}, each a 1-D array with one value per record"


def _column(name: str, label: str, values: Any) -> np.ndarray:
    """One column as a 1-D NumPy array of real numbers, or a clear error."""
    try:
        array = np.asarray(values)
    except ValueError as e:  # ragged nested sequences
        raise ValueError(f"records[{name!r}] {label} is not an array ({e}); expected "
                         f"{ACCEPTED}.") from None
    if array.dtype.kind not in "iuf":
        raise TypeError(f"records[{name!r}] {label} must hold real numbers, got dtype "
                        f"{array.dtype} ({values!r:.60}); expected {ACCEPTED}.")
    if array.ndim != 1:
        raise ValueError(
            f"records[{name!r}] {label} must be 1-D (one value per record), got shape "
            f"{array.shape}; expected {ACCEPTED}. A batch of managers drains one array "
            "per member: append them one by one.")
    return array


def to_chunk(records: Any) -> dict[str, dict[str, list]]:
    """Checks the records of one append and returns them in the file's structure.

    Args:
      records: ``{name: (losses, weights)}``: 1-D arrays of one length of real
        numbers (NaN and infinities included: a diverged run's records are data, written
        as JSON ``NaN`` and ``Infinity`` as Python's ``json`` and the reference do).

    Returns:
      ``{name: {"loss": [...], "weights": [...]}}`` as Python floats.

    Raises:
      TypeError: not a mapping, a name that is not a string, a value that is not a pair,
        or arrays of the wrong kind (strings, booleans, complex numbers).
      ValueError: an empty name, an array given instead of a pair, arrays that are not
        1-D or differ in length.

    Examples:
      >>> to_chunk({"G_L1": ([0.5, 0.25], [100.0, 100.0])})
      {'G_L1': {'loss': [0.5, 0.25], 'weights': [100.0, 100.0]}}
    """
    if not isinstance(records, Mapping):
        raise TypeError(f"records must be a mapping {ACCEPTED}; got a "
                        f"{type(records).__name__}: {records!r:.60}.")
    chunk = {}
    for name, value in records.items():
        if not isinstance(name, str):
            raise TypeError(f"record names must be strings, got {name!r} "
                            f"({type(name).__name__}).")
        if not name:
            raise ValueError("record names must not be empty, got ''.")
        if hasattr(value, "shape"):
            raise ValueError(f"records[{name!r}] is an array of shape {value.shape}, not a "
                             f"pair (losses, weights); expected {ACCEPTED}.")
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) \
                or len(value) != 2:
            raise TypeError(f"records[{name!r}] must be a pair (losses, weights), got "
                            f"{value!r:.60}.")
        columns = {"loss": _column(name, "losses", value[0]),
                   "weights": _column(name, "weights", value[1])}
        lengths = {label: len(array) for label, array in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"records[{name!r}] has columns of different lengths {lengths}; "
                             f"expected {ACCEPTED}.")
        chunk[name] = {label: array.astype(float).tolist()
                       for label, array in columns.items()}
    return chunk
