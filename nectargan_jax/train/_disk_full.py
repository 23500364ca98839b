"""Telling a full disk (or a file-size limit) apart from other write failures, and keeping
orbax's own reports of it off the console.

orbax writes a checkpoint through tensorstore, which reports ``ENOSPC`` or ``EFBIG`` as a
``ValueError`` whose message is the whole storage spec with ``[os_error_code='28']``
inside; orbax's worker threads also log it (absl, at ERROR, with a traceback), asyncio
logs the writes whose failure nobody awaited, and callbacks of the writes still in flight
land on an event loop orbax has closed, each printed as an unraisable
``RuntimeError('Event loop is closed')``. The training job says all of this in one line
instead.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import errno
import logging
import re
import sys
from typing import Any

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
_OS_ERROR_CODE = re.compile(r"os_error_code='?(\d+)")
_CLOSED_LOOP = "Event loop is closed"
_LOGGERS = ("absl", "asyncio")


def disk_full_errno(error: BaseException | None) -> int | None:
    """The errno if ``error`` (or an exception it was raised from) is a full disk, a disk
    quota or a file-size limit (an ``OSError`` with that errno, or tensorstore's message
    carrying it as ``os_error_code``); None otherwise."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            return error.errno
        code = _named_disk_full(str(error))
        if code is not None:
            return code
        error = error.__cause__ or error.__context__
    return None


def _named_disk_full(text: str) -> int | None:
    codes = [int(code) for code in _OS_ERROR_CODE.findall(text)]
    return next((code for code in codes if code in DISK_FULL_ERRNOS), None)


class _DropDiskFull(logging.Filter):
    """Drops log records that report a full disk (the caller raises it as one line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        reported = record.exc_info[1] if record.exc_info else None
        return (disk_full_errno(reported) is None
                and _named_disk_full(record.getMessage()) is None)


@contextlib.contextmanager
def quiet_disk_full_reports() -> Iterator[None]:
    """Within the block, log records of a full disk are dropped (orbax's threads log, on
    absl's logger, the error they also raise; asyncio logs the failed writes it never
    awaited) and so are unraisable ``RuntimeError('Event loop is closed')`` reports
    (callbacks of abandoned writes). After a block that raised a full disk they stay
    dropped, as such reports still arrive while the abandoned writes wind down."""
    loggers, dropper = [logging.getLogger(n) for n in _LOGGERS], _DropDiskFull()
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        value = unraisable.exc_value
        if not (isinstance(value, RuntimeError) and str(value) == _CLOSED_LOOP):
            previous(unraisable)

    for logger in loggers:
        logger.addFilter(dropper)
    sys.unraisablehook = hook
    failed = False
    try:
        yield
    except Exception as error:
        failed = disk_full_errno(error) is not None
        raise
    finally:
        if not failed:
            for logger in loggers:
                logger.removeFilter(dropper)
            sys.unraisablehook = previous
