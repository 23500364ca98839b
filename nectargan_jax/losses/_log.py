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
import contextlib
import hashlib
import json
import os
from pathlib import Path
import tempfile
from typing import Any

import numpy as np

LOG_NAME = "loss_log.json"
_NEW_FILE_MODE = 0o644
ROOT_KEY = "LOSSMANAGER_LOG"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def write_json_atomic(path: Path, data: Any) -> None:
    """Writes ``data`` as JSON (indent 4) to a temporary file, then renames it over ``path``.

    The temporary file is fsync'ed before the rename and the folder after it; an
    existing file keeps its permissions.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else _NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=4)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Makes a rename durable where the OS allows opening folders (POSIX)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def base_log(experiment_dir: Path, device: str, dataroot: str) -> dict:
    """The reference's header: device, dataroot, entries in ``dataroot/train`` (0 if it
    is missing), the experiment folder's name, no losses."""
    train = Path(dataroot) / "train"
    length = len(os.listdir(train)) if dataroot and train.is_dir() else 0
    return {ROOT_KEY: {"device": str(device), "dataroot": str(dataroot),
                       "dataset_length": length, "experiment": experiment_dir.name,
                       "loss_functions": {}}}


def _extend(data: dict, chunk: Mapping[str, dict]) -> None:
    """Appends a chunk ``{name: {"loss": [...], "weights": [...]}}`` to a log in place."""
    functions = data[ROOT_KEY]["loss_functions"]
    for name, entry in chunk.items():
        slot = functions.setdefault(name, {"loss": [], "weights": []})
        slot["loss"].extend(entry["loss"])
        slot["weights"].extend(entry["weights"])


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
      experiment_dir: folder of the log (created at the first write).
      device: recorded in the header.
      dataroot: recorded in the header; ``dataset_length`` counts ``dataroot/train``.
      compact_every_append: merge into ``loss_log.json`` at every append (the file is
        always complete) instead of when the journal outgrows it.
    """

    def __init__(self, experiment_dir: str | os.PathLike, *, device: str = "cpu",
                 dataroot: str = "", compact_every_append: bool = False):
        self.dir = Path(experiment_dir)
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
        chunk = _as_lists(records)
        if not self.path.exists():
            self.export_base_log()
        if self.compact_every_append:
            data = self.read()
            _extend(data, chunk)
            write_json_atomic(self.path, data)
            self.journal.unlink(missing_ok=True)
            return
        line = json.dumps(chunk)
        if not self._journal_is_current():
            self.journal.write_text(json.dumps({"extends": _digest(self.path)}) + "\n")
        with open(self.journal, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        if self.journal.stat().st_size > self.path.stat().st_size:
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
        for chunk in self._journal_records():
            _extend(data, chunk)
        return data

    def compact(self) -> None:
        """Merges the journal into ``loss_log.json`` atomically, then removes it."""
        write_json_atomic(self.path, self.read())
        self.journal.unlink(missing_ok=True)
