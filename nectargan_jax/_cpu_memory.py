"""Keeps freed memory in the process on a CPU backend, so each step's buffers are reused.

XLA's CPU runtime allocates every call's temporary buffer with ``malloc`` (341 MB for
the default config's training step at batch 1). glibc serves any allocation above 32 MB
with a fresh ``mmap`` and unmaps it when it is freed, so the kernel maps and zeroes those
pages again on every step: 83,000 page faults and about 0.25 s of system time per step,
measured on this project's CPU. A thread other than the main one (where JAX's
asynchronous CPU dispatch runs a computation) allocates from an arena of its own, which
maps anything above 64 MB whatever the settings.

:func:`keep_freed_memory` runs each CPU computation on the thread that dispatches it
(``jax_cpu_enable_async_dispatch`` off: the training loop's main thread, which allocates
from glibc's main heap), and makes glibc never ``mmap`` an allocation from that heap
(``M_MMAP_MAX`` 0) nor hand its top back to the system (``M_TRIM_THRESHOLD`` -1): a
freed step buffer is reused by the next step without a page fault. The process keeps
its peak memory, and its heap can grow by a few buffers over the first steps before it
settles (a freed buffer does not fit the next, aligned, request once a small allocation
takes the space beside it: a bare 2.125 GiB probe settled after 2 to 7 calls; the
command at batch 16 held 5.3 GB of heap, about two of its buffers). A trim threshold of
2 GiB, the largest number the option takes, was not enough: the default config's step
at batch 16 has a 2.57 GB buffer, which went back to the system and was faulted in again
every step (630,000 page faults, 1.2 s of a 7.5 s step). The step's inputs must also be
ready when it is dispatched: XLA runs a call whose inputs are still being copied later,
on a thread of its own, so the training loop's ``prefetch`` hands over batches whose
copies are done. (Serving every thread from the main heap instead, ``M_ARENA_MAX`` 1,
made XLA's threads wait for each other's allocations: the embedded default's step ran
1.3-1.6x slower.)

Like ``_xla_flags``, only the ``nectargan-jax train`` command run as a program applies it
(``--no-xla-cpu-flags`` or ``NECTARGAN_JAX_XLA_CPU_FLAGS=0`` turns both off), and only
when JAX will compute on the CPU: no accelerator plugin is installed, or
``JAX_PLATFORMS`` names the CPU first. A script of its own calls it before JAX starts.
"""

from __future__ import annotations

from collections.abc import Mapping
import ctypes
import importlib.metadata
import importlib.util
import os
import platform

from nectargan_jax._xla_flags import OFF_VALUES
from nectargan_jax._xla_flags import SWITCH

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
# -1: never trim.
TRIM_THRESHOLD = -1


def computes_on_cpu(environ: Mapping[str, str] | None = None) -> bool:
    """Whether JAX's default backend will be the CPU: ``JAX_PLATFORMS`` names it first, or
    it is unset and no accelerator plugin (``jax_plugins``, libtpu) is installed."""
    environ = os.environ if environ is None else environ
    platforms = environ.get("JAX_PLATFORMS", "").strip()
    if platforms:
        return platforms.split(",")[0].strip().lower() == "cpu"
    plugins = importlib.metadata.entry_points(group="jax_plugins")
    return (not plugins and importlib.util.find_spec("jax_plugins") is None
            and importlib.util.find_spec("libtpu") is None)


def keep_freed_memory(environ: Mapping[str, str] | None = None) -> bool:
    """Runs CPU computations on the dispatching thread and sets glibc's allocator to keep
    freed memory for reuse (see the module's doc).

    Call it before JAX starts its backend (JAX reads the dispatch setting then).

    Args:
      environ: the environment to read (``os.environ`` by default).

    Returns:
      True when applied; False, changing nothing, when ``environ[SWITCH]`` is one of
      ``OFF_VALUES``, JAX will not compute on the CPU, or the C library is not glibc.
    """
    environ = os.environ if environ is None else environ
    if environ.get(SWITCH, "").strip().lower() in OFF_VALUES or not computes_on_cpu(environ):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    import jax  # here: the command line imports this module, and most commands need no JAX

    jax.config.update("jax_cpu_enable_async_dispatch", False)
    return all(libc.mallopt(option, value) == 1 for option, value in (
        (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD)))
