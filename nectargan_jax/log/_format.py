"""The ``loss_log.json`` format: the reference's structure, read strictly, extended in place.

``{"LOSSMANAGER_LOG": {"device": str, "dataroot": str, "dataset_length": int,
"experiment": str, "loss_functions": {name: {"loss": [...], "weights": [...]}}}}``,
indent 4.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import numbers
import os
from pathlib import Path
from typing import Any

import numpy as np

from nectargan_jax.log._json_prefix import cuts

LOG_NAME = "loss_log.json"
ROOT_KEY = "LOSSMANAGER_LOG"
HEADER_KEYS = ("device", "dataroot", "dataset_length", "experiment")
COLUMNS = ("loss", "weights")

Records = dict[str, tuple[np.ndarray, np.ndarray]]
"""``{name: (weighted losses, weights applied)}``, 1-D arrays in record order: what a
sink's ``append`` takes and a log's ``records()`` gives."""


class DamagedLogError(ValueError):
    """A log file that cannot be read as written: nothing was written to it.

    Attributes:
      path: the damaged file.
      line: the 1-based line where the damage is, or None when it is in the structure.
      problem: what is wrong.
    """

    def __init__(self, path: Path, line: int | None, problem: str):
        self.path, self.line, self.problem = Path(path), line, problem
        super().__init__(
            f"{self.where}: {problem}. Nothing was written to the log; LossLog.recover() keeps "
            "every readable record and moves the damaged file aside.")


    def __reduce__(self) -> tuple:  # crosses process boundaries (multiprocessing)
        return type(self), (self.path, self.line, self.problem)

    @property
    def where(self) -> str:
        """``"<path>, line <n>"``, or the path alone for damage in the structure."""
        return f"{self.path}, line {self.line}" if self.line is not None else str(self.path)


def base_log(experiment_dir: Path, device: str, dataroot: str) -> dict:
    """The reference's header with no losses.

    Args:
      experiment_dir: the log's folder; its name is the experiment.
      device: recorded as given (``str``).
      dataroot: recorded as given; ``dataset_length`` counts the entries (folders
        included) of ``dataroot/train``, 0 if it is missing.

    Returns:
      ``{"LOSSMANAGER_LOG": {..., "loss_functions": {}}}``.
    """
    train = Path(dataroot) / "train"
    length = len(os.listdir(train)) if dataroot and train.is_dir() else 0
    return {ROOT_KEY: {"device": str(device), "dataroot": str(dataroot),
                       "dataset_length": length, "experiment": Path(experiment_dir).name,
                       "loss_functions": {}}}


def is_number(value: Any) -> bool:
    """Whether ``value`` is a real number as JSON reads one (not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def entry_problem(entry: Any) -> str | None:
    """What is wrong with one loss's entry ``{"loss": [...], "weights": [...]}``, or None."""
    if not isinstance(entry, Mapping):
        return f"is a {type(entry).__name__}, not an object"
    if "loss" not in entry or "weights" not in entry:
        return "lacks 'loss' or 'weights'"
    unknown = set(entry) - set(COLUMNS)
    if unknown:
        return f"has unknown keys {sorted(unknown)}"
    for column in entry:
        values = entry[column]
        if not isinstance(values, list) or not all(map(is_number, values)):
            return f"'{column}' is not a list of numbers"
    lengths = {column: len(entry[column]) for column in entry}
    if len(set(lengths.values())) > 1:
        return f"has lists of different lengths {lengths}"
    return None


def structure_problem(data: Any) -> str | None:
    """What keeps ``data`` from being a loss log in the reference's structure, or None."""
    if not isinstance(data, dict) or not isinstance(data.get(ROOT_KEY), dict):
        return f"the top level is not an object with the key {ROOT_KEY!r}"
    functions = data[ROOT_KEY].get("loss_functions")
    if not isinstance(functions, dict):
        return f"{ROOT_KEY}.loss_functions is not an object"
    for name, entry in functions.items():
        problem = entry_problem(entry)
        if problem:
            return f"{ROOT_KEY}.loss_functions[{name!r}] {problem}"
    return None


def parse_log(raw: bytes, path: Path) -> dict:
    """Reads the bytes of ``loss_log.json``, refusing anything but a whole, valid log.

    Args:
      raw: the file's bytes.
      path: the file, for the error message.

    Returns:
      The log as a dict.

    Raises:
      DamagedLogError: not UTF-8, not JSON (truncated included) or not in the log's
        structure; the message names the file, the line and what is wrong.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DamagedLogError(path, raw[:e.start].count(b"\n") + 1,
                              f"byte {e.start} is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        cut_short = cuts(text[:e.pos], keep=0)[1] and "\n" not in text[e.pos:]
        problem = ("the file ends in the middle of its JSON document (truncated)"
                   if cut_short else f"not JSON: {e.msg}, column {e.colno}")
        raise DamagedLogError(path, e.lineno, problem) from None
    problem = structure_problem(data)
    if problem:
        raise DamagedLogError(path, None, problem)
    return data


def extend(data: dict, chunk: Mapping[str, Mapping[str, list]]) -> None:
    """Appends a chunk ``{name: {"loss": [...], "weights": [...]}}`` to ``data`` in place.

    Every loss in the chunk gets an entry, even with no records.
    """
    functions = data[ROOT_KEY]["loss_functions"]
    for name, entry in chunk.items():
        slot = functions.setdefault(name, {"loss": [], "weights": []})
        for column, values in slot.items():
            values.extend(entry[column])


def as_records(data: dict) -> Records:
    """The records of a log in the file's structure, as ``{name: (losses, weights)}``."""
    return {name: (np.asarray(entry["loss"], np.float64),
                   np.asarray(entry["weights"], np.float64))
            for name, entry in data[ROOT_KEY]["loss_functions"].items()}


def dump(data: dict, stream: Any) -> None:
    """Writes a log as the reference does: JSON, indent 4."""
    json.dump(data, stream, indent=4)
