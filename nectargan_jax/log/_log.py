"""The loss log: ``loss_log.json`` in the reference's structure; nothing acknowledged is lost.

An append costs time in its new records only: it adds one self-checking line to the
journal beside the file (``_journal``), fsync'ed before it returns. The journal is
merged into ``loss_log.json`` once it outgrows the file (so rewriting stays linear in
the log's size overall), at every append with ``compact_every_append``, and at
``close()``. Every rewrite goes to a temporary file renamed over the old one.

An append that returned survives any later crash, torn write or full disk; one that
raised left nothing behind. A damaged file is never written to: reading or writing
raises ``DamagedLogError`` naming the file, the line and what is wrong, and
``recover()`` keeps every readable record and moves the damaged file aside.
"""

from __future__ import annotations

from collections.abc import Mapping
import contextlib
import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Any

from nectargan_jax.log import _journal
from nectargan_jax import _files as files
from nectargan_jax.log._format import DamagedLogError
from nectargan_jax.log._format import LOG_NAME
from nectargan_jax.log._format import ROOT_KEY
from nectargan_jax.log._format import Records
from nectargan_jax.log._format import as_records
from nectargan_jax.log._format import base_log
from nectargan_jax.log._format import dump
from nectargan_jax.log._format import extend
from nectargan_jax.log._format import parse_log
from nectargan_jax.log._records import to_chunk
from nectargan_jax.log._salvage import salvage


@dataclasses.dataclass(frozen=True)
class LogRecovery:
    """What ``LossLog.recover()`` found and did.

    Attributes:
      problems: what was wrong, one ``"<file>, line <n>: <what>"`` each; empty for a
        healthy log.
      moved_aside: the damaged files, kept beside the log under
        ``<name>.damaged-<UTC time>`` (the log itself is rewritten without them).
      records: the number of records of each loss now in ``loss_log.json``.
    """

    problems: tuple[str, ...]
    moved_aside: tuple[Path, ...]
    records: dict[str, int]


@dataclasses.dataclass(frozen=True)
class _Loaded:
    """The log as read: ``loss_log.json`` (a base log if missing) and its journal."""

    data: dict
    digest: str  # SHA-256 of loss_log.json, "" if it is missing
    journal: _journal.Scan | None
    status: str | None  # the journal's, None without a journal

    def merged(self) -> dict:
        """The whole log: the file's records, then the journal's."""
        if self.status == _journal.CURRENT:
            for chunk in self.journal.chunks:
                extend(self.data, chunk)
        return self.data


@dataclasses.dataclass(frozen=True)
class _Known:
    """What the last append saw, to skip re-reading an unchanged log."""

    file: tuple[int, int, int]  # (inode, size, mtime) of loss_log.json
    journal: tuple[int, int, int] | None
    digest: str


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


class LossLog:
    """Appends drained records to ``experiment_dir/loss_log.json``.

    Use it as a context manager (or call ``close()``) so that ``loss_log.json`` holds
    every record for tools that read it with ``json.load``; ``read()`` always does.
    One process writes a log at a time.

    Args:
      experiment_dir: folder of the log (created at the first write). Opening a log
        removes the temporary files a killed writer left there.
      device: recorded in the header.
      dataroot: recorded in the header; ``dataset_length`` counts ``dataroot/train``.
      compact_every_append: merge into ``loss_log.json`` at every append (the file is
        always complete) instead of when the journal outgrows it.

    Raises:
      TypeError: ``experiment_dir`` or ``dataroot`` is not a path, ``device`` not a string
        or ``compact_every_append`` not a bool.
      NotADirectoryError: ``experiment_dir`` is a file.

    Examples:
      >>> import json, tempfile
      >>> with tempfile.TemporaryDirectory() as folder:
      ...     with LossLog(folder) as log:
      ...         log.append({"G_L1": ([0.5, 0.25], [100.0, 100.0])})
      ...         log.append({"G_L1": ([0.125], [50.0])})
      ...     with open(log.path) as f:  # complete once closed
      ...         print(json.load(f)["LOSSMANAGER_LOG"]["loss_functions"])
      {'G_L1': {'loss': [0.5, 0.25, 0.125], 'weights': [100.0, 100.0, 50.0]}}
    """

    def __init__(self, experiment_dir: str | os.PathLike, *, device: str = "cpu",
                 dataroot: str | os.PathLike = "", compact_every_append: bool = False):
        if not isinstance(experiment_dir, (str, os.PathLike)):
            raise TypeError(f"experiment_dir must be a path (str or os.PathLike), got "
                            f"{experiment_dir!r} ({type(experiment_dir).__name__}).")
        if not isinstance(dataroot, (str, os.PathLike)):
            raise TypeError(f"dataroot must be a path (str or os.PathLike), got {dataroot!r} "
                            f"({type(dataroot).__name__}).")
        if not isinstance(device, str):
            raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {device!r} "
                            f"({type(device).__name__}).")
        if not isinstance(compact_every_append, bool):
            raise TypeError(f"compact_every_append must be True or False, got "
                            f"{compact_every_append!r}.")
        self.dir = Path(experiment_dir)
        self.path = self.dir / LOG_NAME
        self.journal = self.dir / (LOG_NAME + ".journal")
        self.device, self.dataroot = device, dataroot
        self.compact_every_append = compact_every_append
        self.closed = False
        self._known: _Known | None = None
        self._check_folder()
        if self.dir.is_dir():
            files.remove_stale_temps(self.path)

    def __repr__(self) -> str:
        return f"LossLog({str(self.dir)!r})"

    def __enter__(self) -> LossLog:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _check_folder(self) -> None:
        if self.dir.exists() and not self.dir.is_dir():
            raise NotADirectoryError(f"experiment_dir {str(self.dir)!r} is a file; the loss "
                                     "log needs a folder there.")

    def _check_open(self, method: str) -> None:
        if self.closed:
            raise ValueError(f"LossLog.{method}: the log of {str(self.dir)!r} is closed.")

    def _load(self) -> _Loaded:
        """Reads the file and the journal, refusing damage (``DamagedLogError``)."""
        self._check_folder()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            data, digest = base_log(self.dir, self.device, self.dataroot), ""
        else:
            data, digest = parse_log(raw, self.path), hashlib.sha256(raw).hexdigest()
        try:
            journal = _journal.scan(self.journal)
        except FileNotFoundError:
            return _Loaded(data, digest, None, None)
        return _Loaded(data, digest, journal, _journal.check(journal, self.journal, digest))

    def _settle(self) -> _Loaded:
        """``_load``, then cuts a torn last line and removes a merged or empty journal."""
        loaded = self._load()
        if loaded.status in (_journal.SUPERSEDED, _journal.EMPTY):
            self.journal.unlink()
            return dataclasses.replace(loaded, journal=None, status=None)
        if loaded.journal is not None and loaded.journal.torn:
            files.truncate(self.journal, loaded.journal.complete_size)
        return loaded

    def _commit(self, data: dict, journal_lines: bytes | None = None) -> None:
        """Writes ``data`` as the new ``loss_log.json``; the journal is then dropped.

        Before the rename, the journal ends in a line naming the new file (a crash
        before its removal leaves it recognisably merged); with ``journal_lines`` it is
        first replaced by those lines (a damaged journal's readable part).
        """
        tmp, digest = files.write_temp(self.path, lambda stream: dump(data, stream))
        mark = None
        try:
            marker = _journal.superseded_by(digest)
            if journal_lines is not None:
                lines = (journal_lines + marker).decode("utf-8")
                files.replace(files.write_temp(self.journal, lambda s: s.write(lines))[0],
                              self.journal)
            elif self.journal.exists():
                mark = files.append_durably(self.journal, marker)
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            if mark is not None:
                files.truncate(self.journal, mark)
            raise
        self._known = None
        files.fsync_dir(self.dir)
        # Committed: a journal left behind names this file on its last line (merged).
        with contextlib.suppress(OSError):
            self.journal.unlink(missing_ok=True)

    def read(self) -> dict:
        """The whole log, journal included, in the file's structure.

        Returns:
          The log; a base log with no losses if nothing was written yet.

        Raises:
          NotADirectoryError: ``experiment_dir`` is a file.
          DamagedLogError: ``loss_log.json`` or its journal is damaged.
        """
        return self._load().merged()

    def records(self) -> Records:
        """Every record in the log, journal included: ``{name: (losses, weights)}`` as
        float64 NumPy arrays, in record order (what ``append`` was given, in order).

        Raises:
          NotADirectoryError: ``experiment_dir`` is a file.
          DamagedLogError: ``loss_log.json`` or its journal is damaged.
        """
        return as_records(self.read())

    def count(self) -> dict[str, int]:
        """The number of records of each loss in the log (``{}`` for a new log).

        Raises:
          NotADirectoryError: ``experiment_dir`` is a file.
          DamagedLogError: ``loss_log.json`` or its journal is damaged.
        """
        if not self.path.exists() and not self.journal.exists():
            return {}
        return {name: len(losses) for name, (losses, _) in self.records().items()}

    def _ready(self) -> _Known:
        """Checks the log before a journal append; cheap when nothing changed since."""
        known = self._known
        if known is not None and known.file == _signature(self.path) \
                and known.journal == _signature(self.journal):
            return known
        loaded = self._settle()
        if not loaded.digest:  # no loss_log.json yet: its header comes first
            self._commit(loaded.data)
            loaded = self._settle()
        self._known = _Known(_signature(self.path), _signature(self.journal), loaded.digest)
        return self._known

    def append(self, records: Mapping[str, Any]) -> None:
        """Adds records to the log, in order; durable when it returns.

        Every loss given gets an entry, even with no records (two empty lists).

        Args:
          records: ``{name: (losses, weights)}``, 1-D arrays of real numbers of one
            length (what ``LossManager.drain`` gives).

        Raises:
          TypeError, ValueError: bad records (nothing written).
          DamagedLogError: the log is damaged; nothing was written. The files are read
            again when they changed (size, inode or time) since this object's last
            append, so an append costs time in its records only.
          NotADirectoryError: ``experiment_dir`` is a file.
          OSError: the write failed (e.g. a full disk); it was rolled back.
        """
        chunk = to_chunk(records)
        self._check_open("append")
        if self.compact_every_append:
            data = self._settle().merged()
            extend(data, chunk)
            self._commit(data)
            return
        known = self._ready()
        new = known.journal is None
        line = (_journal.header(known.digest) if new else b"") + _journal.records(chunk)
        start = None
        try:
            start = files.append_durably(self.journal, line)
            if self.journal.stat().st_size > known.file[1]:
                self._commit(self._load().merged())
        except BaseException:
            self._known = None
            if new:
                self.journal.unlink(missing_ok=True)
            elif start is not None:
                files.truncate(self.journal, start)
            raise
        if self._known is not None:
            self._known = dataclasses.replace(known, journal=_signature(self.journal))

    def compact(self) -> None:
        """Merges the journal into ``loss_log.json`` atomically, then removes it.

        Raises:
          DamagedLogError: the log is damaged; nothing was written.
        """
        loaded = self._settle()
        if loaded.journal is not None:
            self._commit(loaded.merged())

    def close(self) -> None:
        """Merges the journal so that ``loss_log.json`` holds every record; no more appends.

        Raises:
          DamagedLogError: the log is damaged (it stays open; see ``recover``).
        """
        if not self.closed:
            self.compact()
            self.closed = True

    def export_base_log(self) -> None:
        """Starts a new log: the header with an empty ``loss_functions``, no journal.

        Raises:
          DamagedLogError: the old log is damaged; it is not overwritten.
        """
        self._check_open("export_base_log")
        self._settle()
        self._commit(base_log(self.dir, self.device, self.dataroot))

    def recover(self) -> LogRecovery:
        """Rewrites a damaged log with every readable record; the damaged files move aside.

        ``loss_log.json`` keeps what reads of it (a truncated file up to where it was cut),
        then every journal line that passes its check, in order, unless the journal's
        last line says it was already merged into this file. A healthy log is compacted.

        Returns:
          What was wrong, where the damaged files went, the records kept per loss.

        Raises:
          NotADirectoryError: ``experiment_dir`` is a file.
        """
        self._check_folder()
        problems, aside, journal_lines = [], [], None
        base = base_log(self.dir, self.device, self.dataroot)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raw, data, digest = None, base, ""
        else:
            digest = hashlib.sha256(raw).hexdigest()
            try:
                data = parse_log(raw, self.path)
            except DamagedLogError as e:
                problems.append(f"{e.where}: {e.problem}")
                aside.append(files.copy_aside(self.path, "damaged"))
                data = salvage(raw, base)
        try:
            journal = _journal.scan(self.journal)
        except FileNotFoundError:
            if raw is None:
                return LogRecovery((), (), {})
            journal = None
        if journal is not None:
            journal_lines = self._recover_journal(journal, digest, data, problems, aside)
        self._commit(data, journal_lines)
        return LogRecovery(tuple(problems), tuple(aside),
                           {name: len(entry["loss"])
                            for name, entry in data[ROOT_KEY]["loss_functions"].items()})

    def _recover_journal(self, journal: _journal.Scan, digest: str, data: dict,
                         problems: list[str], aside: list[Path]) -> bytes | None:
        """Adds the journal's readable records to ``data``; copies a damaged one aside.

        Returns:
          The lines of the journal to write in place of a damaged one (header and the
          records kept), or None if the journal is healthy (a torn last line is cut).
        """
        problems += [f"{self.journal}, line {n}: {what}" for n, what in journal.bad]
        status = journal.status(digest)
        damaged = bool(journal.bad) or status == _journal.FOREIGN
        if status == _journal.FOREIGN:
            problems.append(f"{self.journal}: it extends another loss_log.json than the "
                            "current one; its records are kept")
        kept = []
        for chunk in journal.chunks if status in (_journal.CURRENT, _journal.FOREIGN) else ():
            extend(data, chunk)
            kept.append(chunk)
        if damaged:
            aside.append(files.copy_aside(self.journal, "damaged"))
            return _journal.header(digest) + b"".join(map(_journal.records, kept))
        if journal.torn:
            files.truncate(self.journal, journal.complete_size)
        return None


def read_records(path: str | os.PathLike) -> Records:
    """The records of a loss log file, whatever its name: ``{name: (losses, weights)}``.

    A ``loss_log.json`` is read with its journal (``LossLog.records``); a file of
    another name (a copy, the reference's log) is read as it is.

    Raises:
      FileNotFoundError: no file at ``path``.
      DamagedLogError: the file (or its journal) is not a whole, valid loss log.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no loss log at {str(path)!r}.")
    if path.name == LOG_NAME:
        return LossLog(path.parent).records()
    return as_records(parse_log(path.read_bytes(), path))
