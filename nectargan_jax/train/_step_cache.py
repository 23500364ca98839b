"""The training step's executable kept on disk, loaded whole at the next start.

JAX's persistent compilation cache is keyed by the lowered program, so a start that
finds the step there has still traced and lowered it first (1.3 s of the 2.1 s a second
start of the embedded default spent on its step on a 2-core CPU). This cache is keyed
by what the program is made from instead, as ``jit``'s in-memory cache is: the static
``Pix2PixStep`` and the structure, shapes, dtypes and shardings of the arguments, plus
this package's source, the library versions, the backend, the XLA flags and JAX's
settings. A start with the same key deserializes the executable
(``jax.experimental.serialize_executable``) and traces nothing.

Runs on one device only: a step sharded over several devices or processes compiles as
before (JAX's own cache still serves it).
"""

from __future__ import annotations

from collections.abc import Callable
import functools
import hashlib
import importlib.metadata
import os
from pathlib import Path
import re
import sys
import tempfile
from typing import Any

import jax
from jax.experimental import serialize_executable

KEEP = 8  # executables kept in a folder, the most recently used
_FORMAT = "nectargan_jax step executable 1"
_SUFFIX = ".step"
_PACKAGE = Path(__file__).resolve().parents[1]
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_LIBRARIES = ("jax", "jaxlib", "flax", "optax", "numpy")
# Where JAX keeps its own cache does not change what a program computes.
_UNRELATED_SETTINGS = ("jax_compilation_cache_dir",)


def compile_step(jitted: Any, static: Any, state: Any, batch: Any, folder: Path | None,
                 echo: Callable[[str], None]) -> jax.stages.Compiled:
    """``jitted.lower(static, state, batch).compile()`` for a step that returns the state.

    Args:
      jitted: the jitted step, ``static`` its static first argument.
      state, batch: arrays or ``jax.ShapeDtypeStruct`` s shaped like the arguments.
      folder: where executables are kept; None compiles and keeps nothing (as does a
        step whose arguments are on several devices).
      echo: says why a kept executable could not be read or one could not be kept (the
        step is then compiled, and the run goes on).

    Returns:
      The compiled step, called as ``compiled(state, batch)``.
    """
    devices = {device for leaf in jax.tree.leaves((state, batch))
               for device in (leaf.sharding.device_set if getattr(leaf, "sharding", None)
                              is not None else jax.devices()[:1])}
    if folder is None or jax.process_count() > 1 or len(devices) != 1:
        return jitted.lower(static, state, batch).compile()
    path = Path(folder) / f"{step_key(static, (state, batch))}{_SUFFIX}"
    if path.is_file():
        try:
            loaded = serialize_executable.deserialize_and_load(
                path.read_bytes(), jax.tree.structure(((state, batch), {})),
                jax.tree.structure(state), execution_devices=list(devices))
            os.utime(path)
            return loaded
        except Exception as err:  # noqa: BLE001 -- any unreadable file is compiled anew
            echo(f"the kept training step {str(path)!r} could not be loaded ({err}); "
                 "compiling it again")
    compiled = jitted.lower(static, state, batch).compile()
    try:
        _write(path, serialize_executable.serialize(compiled)[0])
    except OSError as err:
        echo(f"could not keep the compiled training step in {str(folder)!r}: {err}")
    return compiled


def step_key(static: Any, args: Any) -> str:
    """A hex digest of everything the compiled step depends on (see the module's doc)."""
    leaves, tree = jax.tree.flatten(args)
    avals = [(tuple(leaf.shape), str(leaf.dtype), bool(getattr(leaf, "weak_type", False)),
              repr(getattr(leaf, "sharding", None))) for leaf in leaves]
    settings = sorted((name, repr(value)) for name, value in jax.config.values.items()
                      if name not in _UNRELATED_SETTINGS)
    devices = [(d.platform, d.device_kind, d.id, d.process_index) for d in jax.devices()]
    parts = (_FORMAT, _environment(), devices, jax.devices()[0].client.platform_version,
             os.environ.get("XLA_FLAGS", ""), settings,
             _ADDRESS.sub("", repr(static)), _ADDRESS.sub("", str(tree)), avals)
    return hashlib.sha256(repr(parts).encode()).hexdigest()


@functools.cache
def _environment() -> tuple:
    """The Python and library versions, and a digest of this package's source."""
    source = hashlib.sha256()
    for file in sorted(_PACKAGE.rglob("*.py")):
        source.update(str(file.relative_to(_PACKAGE)).encode() + b"\0" + file.read_bytes())
    versions = tuple(importlib.metadata.version(name) for name in _LIBRARIES)
    return sys.version, versions, source.hexdigest()


def _write(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically, then removes all but the ``KEEP`` most
    recently used executables of the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    kept = sorted(path.parent.glob(f"*{_SUFFIX}"), key=lambda p: p.stat().st_mtime,
                  reverse=True)
    for old in kept[KEEP:]:
        old.unlink(missing_ok=True)
