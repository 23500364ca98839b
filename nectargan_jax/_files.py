"""Durable file operations (the loss log, exported configs): atomic replacement,
appends that roll back.

Every rewrite goes to a temporary file ``.<name>.<random>.tmp`` in the same folder,
fsync'ed, then renamed over the file (the folder is fsync'ed after); a crash leaves
the old file or the new one, never a mix. An append either lands whole (fsync'ed)
or is cut off again before the error propagates.
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import hashlib
import itertools
import os
from pathlib import Path
import tempfile
import time
from typing import Any, TextIO

NEW_FILE_MODE = 0o644


def fsync_dir(folder: Path) -> None:
    """Makes a rename or a new file durable where the OS allows opening folders (POSIX)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _HashingWriter:
    """A text stream that writes UTF-8 to a binary file and hashes what it writes."""

    def __init__(self, raw: Any):
        self.raw, self.sha256 = raw, hashlib.sha256()

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self.sha256.update(data)
        self.raw.write(data)
        return len(text)


def write_temp(path: Path, write: Callable[[TextIO], None]) -> tuple[Path, str]:
    """Writes a temporary file beside ``path`` with ``write(stream)``, fsync'ed.

    Args:
      path: the file the temporary one will replace; its folder is created if missing.
      write: writes the contents as text to the stream it is given.

    Returns:
      The temporary file (mode of ``path`` if it exists, else 0o644) and the SHA-256
      of its bytes. On any error it is removed before the error propagates.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else NEW_FILE_MODE
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as raw:
            stream = _HashingWriter(raw)
            write(stream)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, stream.sha256.hexdigest()


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Writes ``data`` to a temporary file beside ``path`` (fsync'ed), then renames it over
    ``path``; the folder is created if missing. Returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as raw:
            raw.write(data)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, NEW_FILE_MODE)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    replace(tmp, path)
    return path


def replace(tmp: Path, path: Path) -> None:
    """Renames ``tmp`` over ``path`` atomically and makes the rename durable."""
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def remove_stale_temps(path: Path) -> list[Path]:
    """Removes the temporary files of ``path`` and of files named after it.

    Returns:
      The files removed (``.<path name>.*.tmp``: left behind by a killed writer).
    """
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def append_durably(path: Path, data: bytes) -> int:
    """Appends ``data`` to ``path`` (created if missing) and fsyncs it, or rolls back.

    Args:
      path: the file.
      data: the bytes to add at its end.

    Returns:
      The file's size before the append (where ``truncate`` undoes it).

    Raises:
      OSError: the write or the fsync failed (a full disk, a file-size limit); the file
        is cut back to its old size first, so the failed append leaves no trace.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, NEW_FILE_MODE)
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, start)
            os.fsync(fd)
            raise
    finally:
        os.close(fd)
    if start == 0:
        fsync_dir(path.parent)
    return start


def truncate(path: Path, size: int) -> None:
    """Cuts ``path`` back to ``size`` bytes, durably."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_aside(path: Path, label: str) -> Path:
    """Copies ``path`` to a new file ``<name>.<label>-<UTC time>[-n]`` beside it, fsync'ed.

    Returns:
      The copy. An existing file is never overwritten.
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    data = path.read_bytes()
    for n in itertools.count():
        aside = path.with_name(f"{path.name}.{label}-{stamp}" + (f"-{n}" if n else ""))
        try:
            f = open(aside, "xb")
        except FileExistsError:
            continue
        try:
            with f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            aside.unlink()
            raise
        fsync_dir(path.parent)
        return aside
