"""The ``loss_log.json`` format: the reference's structure, read strictly, extended in place.

``{"LOSSMANAGER_LOG": {"device": str, "dataroot": str, "dataset_length": int,
"experiment": str, "loss_functions": {name: {"loss": [...], "weights": [...]}}}}``,
indent 4. A loss whose records carry their step index also has ``"steps": [...]``
(one per record); the reference's tools read ``loss`` and ``weights`` and ignore it.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import numbers
import os
from pathlib import Path
from typing import Any

from nectargan_jax.losses._json_prefix import cuts

LOG_NAME = "loss_log.json"
ROOT_KEY = "LOSSMANAGER_LOG"
HEADER_KEYS = ("device", "dataroot", "dataset_length", "experiment")
COLUMNS = ("loss", "weights", "steps")


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
    """What is wrong with one loss's entry ``{"loss", "weights"(, "steps")}``, or None."""
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


def kinds(data: dict) -> dict[str, bool]:
    """For each loss holding records, whether they carry steps."""
    return {name: "steps" in entry
            for name, entry in data[ROOT_KEY]["loss_functions"].items() if entry["loss"]}


def check_steps(kinds_: Mapping[str, bool], chunk: Mapping[str, Mapping[str, list]]) -> None:
    """Refuses records with steps for a loss whose records lack them, or the other way round.

    Args:
      kinds_: ``kinds(data)`` of the log the chunk will extend.
      chunk: new records per loss, in the file's structure.

    Raises:
      ValueError: naming the loss; give steps always or never.
    """
    for name, entry in chunk.items():
        if name in kinds_ and entry["loss"] and kinds_[name] != ("steps" in entry):
            have = "carry" if kinds_[name] else "lack"
            raise ValueError(
                f"records[{name!r}] {'lack' if kinds_[name] else 'carry'} steps, but the "
                f"records of {name!r} already in the log {have} them: give steps always "
                "or never.")


def extend(data: dict, chunk: Mapping[str, Mapping[str, list]]) -> None:
    """Appends a chunk ``{name: {"loss": [...], "weights": [...](, "steps": [...])}}``.

    Every loss in the chunk gets an entry, even with no records.

    Args:
      data: a log in the file's structure, changed in place.
      chunk: new records per loss, each an entry in the file's structure.

    Raises:
      ValueError: ``check_steps`` refuses the chunk; ``data`` is unchanged.
    """
    check_steps(kinds(data), chunk)
    functions = data[ROOT_KEY]["loss_functions"]
    for name, entry in chunk.items():
        slot = functions.setdefault(name, {"loss": [], "weights": []})
        if not slot["loss"]:  # an empty entry takes the kind of its first records;
            # steps come first: a file cut short never holds a record without its step
            slot = functions[name] = {**({"steps": []} if "steps" in entry else {}),
                                      "loss": [], "weights": []}
        for column, values in slot.items():
            values.extend(entry.get(column, []))


def dump(data: dict, stream: Any) -> None:
    """Writes a log as the reference does: JSON, indent 4."""
    json.dump(data, stream, indent=4)
