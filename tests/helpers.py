"""Shared test helpers: counting XLA compilations, simulated CPU devices for subprocesses,
and the hypothesis settings."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
import os

import hypothesis
import jax

# JAX records the duration of every backend (XLA) compilation under this event, with the
# compiled function's name as ``fun_name`` (jax/_src/dispatch.py, BACKEND_COMPILE_EVENT).
# A jit cache hit records nothing, so the events count real compilations.
_BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"

# Few examples, no deadline (the first example of each test compiles), and no example
# database written into the shared working tree.
HYPOTHESIS_SETTINGS = hypothesis.settings(max_examples=50, deadline=None, database=None)


def simulated_devices_env(devices: int) -> dict[str, str]:
    """This process's environment for a subprocess computing on ``devices`` simulated CPU
    devices (the session's ``XLA_FLAGS`` kept, the device count added)."""
    count = f"--xla_force_host_platform_device_count={devices}"
    flags = f"{os.environ.get('XLA_FLAGS', '')} {count}".strip()
    return {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": flags}


@dataclasses.dataclass
class CompilationLog:
    """Names of the functions XLA compiled while the context was open, in order."""

    names: list[str] = dataclasses.field(default_factory=list)

    def count(self, name: str | None = None) -> int:
        """Number of compilations, of all functions or of the Python function ``name``.

        JAX names a jitted function's compilation ``jit(<name>)``.
        """
        return sum(1 for n in self.names if name is None or n in (name, f"jit({name})"))


@contextlib.contextmanager
def count_compilations() -> Iterator[CompilationLog]:
    """Records every XLA compilation inside the ``with`` block.

    Example::

        with count_compilations() as log:
            jitted(x)
        assert log.count("my_function") == 1

    Eager ``jnp`` calls compile their primitives too (once per shape and dtype), so tests
    filter by the jitted function's name, or build their inputs before the block.
    """
    log = CompilationLog()

    def listener(event: str, duration: float, **kwargs: object) -> None:
        del duration
        if event == _BACKEND_COMPILE_EVENT:
            log.names.append(str(kwargs.get("fun_name", "")))

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield log
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
