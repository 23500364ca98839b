"""JAX's persistent compilation cache for the training command.

Compiling the training step takes about a minute at the default config on a 2-core CPU.
With the cache on, a second start or a ``--resume`` of the same config (same shapes,
same JAX, same XLA flags) loads every compiled function from disk instead.

The command turns it on (``enable_compile_cache``) in a user cache folder by default;
``--compile-cache DIR`` or ``NECTARGAN_JAX_COMPILE_CACHE=DIR`` moves it, and the value
``off`` (or ``0``, ``false``, ``no``, ``none``) turns it off. A cache folder the user set
for JAX itself (``JAX_COMPILATION_CACHE_DIR``) is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
import os
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache

ENV = "NECTARGAN_JAX_COMPILE_CACHE"
OFF_VALUES = ("off", "0", "false", "no", "none")
_JAX_ENV = "JAX_COMPILATION_CACHE_DIR"


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/nectargan_jax/xla`` (``~/.cache/nectargan_jax/xla`` by default)."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nectargan_jax" / "xla"


def cache_dir(flag: str | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the command caches compiled functions, or None for no cache of its own.

    Args:
      flag: ``--compile-cache``'s value (None when not given): a folder, or ``off``.
      environ: the environment (``os.environ`` by default).

    Returns:
      ``flag``, else ``$NECTARGAN_JAX_COMPILE_CACHE``, else ``default_cache_dir()``;
      None when that value is one of ``OFF_VALUES`` or when JAX's own
      ``JAX_COMPILATION_CACHE_DIR`` is set (JAX then uses that folder).

    Examples:
      >>> cache_dir("off") is None
      True
      >>> str(cache_dir(None, {"NECTARGAN_JAX_COMPILE_CACHE": "/tmp/c"}))
      '/tmp/c'
    """
    environ = os.environ if environ is None else environ
    value = flag if flag is not None else environ.get(ENV)
    if value is not None and value.strip().lower() in OFF_VALUES:
        return None
    if flag is None and environ.get(_JAX_ENV):
        return None
    if value is None or not value.strip():
        return default_cache_dir(environ)
    return Path(value).expanduser()


def enable_compile_cache(directory: str | os.PathLike) -> Path:
    """Turns on JAX's persistent compilation cache in ``directory`` for every function,
    however fast it compiled (the step's many small helpers add up too).

    Raises:
      NotADirectoryError: ``directory`` exists and is not a folder.
    """
    directory = Path(directory).expanduser().absolute()
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"--compile-cache {str(directory)!r} is not a folder.")
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # JAX decides once per process whether the cache is on, at the first compilation.
    compilation_cache.reset_cache()
    return directory
