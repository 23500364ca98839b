"""The loss log: ``loss_log.json`` in the reference's structure, never lost or corrupted.

The file holds ``{"LOSSMANAGER_LOG": {"device", "dataroot", "dataset_length",
"experiment", "loss_functions": {name: {"loss": [...], "weights": [...]}}}}``.

Appending costs time in the new records only: each append is one line added to a
journal beside the file (``loss_log.json.journal``, flushed and fsync'ed). The journal
is merged into ``loss_log.json`` (``compact``) once it outgrows the file, so rewriting
stays linear in the log's size overall, or at every append with ``compact_every_append``.
Every rewrite goes to a temporary file that replaces the old one atomically. The
journal's first line holds the SHA-256 of the file it extends: after a crash between
a merge and the journal's removal, that digest no longer matches and the journal,
already merged, is dropped instead of counted twice. A torn last journal line (a crash
mid-append) is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
import hashlib
import json
import os
from pathlib import Path
import tempfile
from typing import Any

import numpy as np

LOG_NAME = "loss_log.json"
ROOT_KEY = "LOSSMANAGER_LOG"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def write_json_atomic(path: Path, data: Any) -> None:
    """Writes ``data`` as indented JSON to a temporary file, then renames it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=4)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def base_log(experiment_dir: Path, device: str, dataroot: str) -> dict:
    """The reference's header: device, dataroot, entries in ``dataroot/train``, name."""
    train = Path(dataroot) / "train" if dataroot else None
    length = len(os.listdir(train)) if train is not None and train.is_dir() else 0
    return {ROOT_KEY: {"device": str(device), "dataroot": str(dataroot),
                       "dataset_length": length, "experiment": experiment_dir.name,
                       "loss_functions": {}}}


def _as_lists(records: Mapping[str, tuple[Any, Any]]) -> dict:
    out = {}
    for name, (losses, weights) in records.items():
        losses, weights = np.asarray(losses), np.asarray(weights)
        if losses.ndim != 1 or weights.shape != losses.shape:
            raise ValueError(f"records of {name!r} must be two 1-D arrays of one length, got "
                             f"shapes {losses.shape} and {weights.shape} (drain a batch of "
                             "managers member by member).")
        out[name] = {"loss": losses.astype(float).tolist(),
                     "weights": weights.astype(float).tolist()}
    return out


class LossLog:
    """Appends drained records to ``experiment_dir/loss_log.json``.

    Args:
      experiment_dir: folder of the log (created if missing).
      device: recorded in the header.
      dataroot: recorded in the header; ``dataset_length`` counts ``dataroot/train``.
      compact_every_append: merge into ``loss_log.json`` at every append (the file is
        always complete) instead of when the journal outgrows it.
    """

    def __init__(self, experiment_dir: str | os.PathLike, *, device: str = "cpu",
                 dataroot: str = "", compact_every_append: bool = False):
        self.dir = Path(experiment_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / LOG_NAME
        self.journal = self.dir / (LOG_NAME + ".journal")
        self.device, self.dataroot = device, dataroot
        self.compact_every_append = compact_every_append

    def export_base_log(self) -> None:
        """(Re)writes the header with an empty ``loss_functions`` and drops the journal."""
        write_json_atomic(self.path, base_log(self.dir, self.device, self.dataroot))
        self.journal.unlink(missing_ok=True)

    def append(self, records: Mapping[str, tuple[Any, Any]]) -> None:
        """Adds ``{name: (losses, weights)}`` (1-D arrays, in order) to the log.

        Every loss gets an entry, even with no records (two empty lists).
        """
        if not self.path.exists():
            self.export_base_log()
        line = json.dumps(_as_lists(records))
        if not self._journal_is_current():
            self.journal.write_text(json.dumps({"extends": _digest(self.path)}) + "\n")
        with open(self.journal, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        if self.compact_every_append or \
                self.journal.stat().st_size > self.path.stat().st_size:
            self.compact()

    def _journal_is_current(self) -> bool:
        """True if the journal exists and extends the current ``loss_log.json``."""
        if not self.journal.exists():
            return False
        with open(self.journal) as f:
            first = f.readline()
        try:
            return json.loads(first)["extends"] == _digest(self.path)
        except (ValueError, KeyError, TypeError):
            return False

    def _journal_records(self) -> list[dict]:
        if not self._journal_is_current():
            return []
        lines = self.journal.read_text().split("\n")[1:]
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                break  # a torn last line: that append never completed
        return out

    def read(self) -> dict:
        """The whole log, journal included, in the file's structure."""
        data = json.loads(self.path.read_text()) if self.path.exists() else \
            base_log(self.dir, self.device, self.dataroot)
        functions = data[ROOT_KEY]["loss_functions"]
        for chunk in self._journal_records():
            for name, entry in chunk.items():
                slot = functions.setdefault(name, {"loss": [], "weights": []})
                slot["loss"].extend(entry["loss"])
                slot["weights"].extend(entry["weights"])
        return data

    def compact(self) -> None:
        """Merges the journal into ``loss_log.json`` atomically, then removes it."""
        write_json_atomic(self.path, self.read())
        self.journal.unlink(missing_ok=True)
