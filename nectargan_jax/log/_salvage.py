"""Every readable record of a damaged ``loss_log.json``, for ``LossLog.recover``.

A file cut short (a writer killed mid-write, a full disk) or garbled somewhere is read
up to its first error: the longest part before it that closes into valid JSON is kept,
and each loss keeps the records whose loss and weight were both read.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from nectargan_jax.log._json_prefix import cuts
from nectargan_jax.log._format import COLUMNS
from nectargan_jax.log._format import HEADER_KEYS
from nectargan_jax.log._format import ROOT_KEY
from nectargan_jax.log._format import is_number


def _readable_prefix(text: str) -> Any:
    """The JSON value of ``text``, or of its longest readable prefix closed, or None.

    Examples:
      >>> _readable_prefix('{"a": [1.0, 2.0, 3.')
      {'a': [1.0, 2.0]}
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        valid = text[:e.pos]  # everything before the error is a prefix of some JSON value
    for cut, closers in reversed(cuts(valid)[0]):
        try:
            return json.loads(valid[:cut] + closers)
        except json.JSONDecodeError:
            continue
    return None


def _readable_entry(entry: dict) -> dict:
    """A loss's columns cut to the records read whole (missing columns read as empty)."""
    columns = {}
    for column in COLUMNS:
        values = entry.get(column)
        values = values if isinstance(values, list) else []
        n = next((i for i, v in enumerate(values) if not is_number(v)), len(values))
        columns[column] = values[:n]
    n = min(map(len, columns.values()))
    return {column: values[:n] for column, values in columns.items()}


def salvage(raw: bytes, fallback: dict) -> dict:
    """The readable part of a damaged log, in the file's structure.

    Args:
      raw: the damaged file's bytes.
      fallback: a base log whose header fields fill in those that cannot be read.

    Returns:
      A valid log: the readable header fields, and for each loss read, the records
      whose every column was read (none if a column was not reached).
    """
    data = copy.deepcopy(fallback)
    value = _readable_prefix(raw.decode("utf-8", errors="replace"))
    root = value.get(ROOT_KEY) if isinstance(value, dict) else None
    if not isinstance(root, dict):
        return data
    for key in HEADER_KEYS:
        if key in root:
            data[ROOT_KEY][key] = root[key]
    functions = root.get("loss_functions")
    for name, entry in (functions.items() if isinstance(functions, dict) else ()):
        if isinstance(entry, dict):
            data[ROOT_KEY]["loss_functions"][name] = _readable_entry(entry)
    return data
