"""The journal beside ``loss_log.json``: appends that cost only the new records.

The journal ``loss_log.json.journal`` is UTF-8 text, one JSON object per line, each
line framed so that it checks itself::

    <length> <crc32> <json>\\n

``length`` is the JSON's size in bytes (decimal) and ``crc32`` zlib's CRC-32 of those
bytes (8 hex digits). Line 1 is the header ``{"journal": 1, "extends": <sha256>}``: the
SHA-256 of the ``loss_log.json`` the journal extends. Each append adds
``{"records": {name: {"loss": [...], "weights": [...]}}}``. Just
before a merge (or a new log) renames another ``loss_log.json`` into place, the writer
adds ``{"superseded_by": <sha256 of that file>}``: a journal whose last line names the
current file was merged into it (the writer stopped before removing it).

A last line without its newline is an append that never returned (the writer was
killed or the disk filled mid-line); it is not a record, and the next append cuts it
off. A complete line that fails its check is damage, reported with its line number.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
import json
from pathlib import Path
from typing import Any
import zlib

from nectargan_jax.log._format import DamagedLogError
from nectargan_jax.log._format import entry_problem

VERSION = 1
CURRENT, SUPERSEDED, EMPTY, FOREIGN = "current", "superseded", "empty", "foreign"


def encode(payload: Mapping[str, Any]) -> bytes:
    """One framed journal line.

    Examples:
      >>> encode({"superseded_by": "ab"})  # doctest: +ELLIPSIS
      b'22 ... {"superseded_by":"ab"}\\n'
    """
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return b"%d %08x %s\n" % (len(body), zlib.crc32(body), body)


def header(extends: str) -> bytes:
    """The first line of a journal extending the file with SHA-256 ``extends``."""
    return encode({"journal": VERSION, "extends": extends})


def records(chunk: Mapping[str, Mapping[str, list]]) -> bytes:
    """The line of one append: ``{name: {"loss": [...], "weights": [...]}}``."""
    return encode({"records": chunk})


def superseded_by(digest: str) -> bytes:
    """The line saying the file this journal extends is replaced by the one with ``digest``."""
    return encode({"superseded_by": digest})


def _payload_problem(number: int, payload: Any) -> str | None:
    if not isinstance(payload, dict) or len(payload) not in (1, 2):
        return "not a journal entry"
    if number == 1:
        if payload.get("journal") != VERSION or not isinstance(payload.get("extends"), str):
            return f"not the journal's header (version {VERSION})"
        return None
    if set(payload) == {"superseded_by"} and isinstance(payload["superseded_by"], str):
        return None
    chunk = payload.get("records")
    if set(payload) != {"records"} or not isinstance(chunk, dict):
        return "not a journal entry"
    for name, entry in chunk.items():
        problem = entry_problem(entry)
        if problem:
            return f"the records of {name!r} {problem}"
    return None


def _decode(number: int, line: bytes) -> tuple[dict | None, str | None]:
    """The payload of one complete line, or what is wrong with it."""
    parts = line.split(b" ", 2)
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[1]) != 8:
        return None, "not a framed journal line (<length> <crc32> <json>)"
    length, body = int(parts[0]), parts[2]
    if length != len(body):
        return None, f"the line says {length} bytes but holds {len(body)}"
    try:
        crc = int(parts[1], 16)
    except ValueError:
        return None, "not a framed journal line (<length> <crc32> <json>)"
    if zlib.crc32(body) != crc:
        return None, "its checksum does not match its contents"
    try:
        payload = json.loads(body)
    except ValueError:
        return None, "its contents are not JSON"
    problem = _payload_problem(number, payload)
    return (None, problem) if problem else (payload, None)


@dataclasses.dataclass(frozen=True)
class Scan:
    """A journal read line by line, keeping everything that checks.

    Attributes:
      lines: ``(line number, payload)`` of every line that passes its check, in order.
      bad: ``(line number, problem)`` of every complete line that fails its check.
      complete_size: bytes up to the end of the last complete line.
      size: the file's size; beyond ``complete_size`` lies a torn last line.
    """

    lines: tuple[tuple[int, dict], ...]
    bad: tuple[tuple[int, str], ...]
    complete_size: int
    size: int

    @property
    def torn(self) -> bool:
        """Whether the file ends in a line without its newline (an append cut short)."""
        return self.size > self.complete_size

    @property
    def chunks(self) -> list[dict]:
        """The records of every readable append, in order."""
        return [payload["records"] for _, payload in self.lines if "records" in payload]

    def status(self, file_digest: str) -> str:
        """How the journal relates to the ``loss_log.json`` with SHA-256 ``file_digest``.

        Returns:
          ``CURRENT`` (it extends that file), ``SUPERSEDED`` (its last line says it was
          merged into that file), ``EMPTY`` (no complete line) or ``FOREIGN``.
        """
        if not self.lines and not self.bad:
            return EMPTY
        last = self.lines[-1][1] if self.lines else {}
        if last.get("superseded_by") == file_digest:
            return SUPERSEDED
        number, first = self.lines[0] if self.lines else (0, {})
        if number == 1 and first["extends"] == file_digest:
            return CURRENT
        return FOREIGN


def scan(path: Path) -> Scan:
    """Reads a journal, line by line, without stopping at damage."""
    raw = path.read_bytes()
    complete = raw.rfind(b"\n") + 1
    lines, bad = [], []
    for number, line in enumerate(raw[:complete].split(b"\n")[:-1], start=1):
        payload, problem = _decode(number, line)
        if problem:
            bad.append((number, problem))
        else:
            lines.append((number, payload))
    return Scan(tuple(lines), tuple(bad), complete, len(raw))


def check(journal: Scan, path: Path, file_digest: str) -> str:
    """The journal's status, for a reader or writer that must not guess.

    Args:
      journal: the scanned journal.
      path: the journal file, for the error message.
      file_digest: SHA-256 of the current ``loss_log.json`` ("" if there is none).

    Returns:
      ``CURRENT``, ``SUPERSEDED`` or ``EMPTY`` (a torn last line is not damage).

    Raises:
      DamagedLogError: a complete line fails its check, or the journal extends another
        file than the current ``loss_log.json`` and was not merged into it.
    """
    if journal.bad:
        number, problem = journal.bad[0]
        raise DamagedLogError(path, number, problem)
    status = journal.status(file_digest)
    if status == FOREIGN:
        extends = journal.lines[0][1]["extends"]
        current = f"SHA-256 {file_digest[:12]}..." if file_digest else "missing"
        raise DamagedLogError(
            path, 1, f"the journal extends the loss_log.json with SHA-256 {extends[:12]}..., "
            f"but that file is {current} now (replaced by something else than a merge)")
    return status
