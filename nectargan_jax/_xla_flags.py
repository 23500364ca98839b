"""XLA CPU settings the training command adds to ``XLA_FLAGS`` before JAX starts its backend.

This jaxlib routes CPU convolutions to YNNPACK by default; on the pix2pix models they run
2-3x slower there than through XLA's own (Eigen) convolutions at batch 16 (measured on a
2-core AVX-512 CPU: a full D+G step at 256x256, 24-26 s against 10.8-11.3 s), while matrix
products stay in YNNPACK. ``CPU_FLAGS`` takes convolutions off YNNPACK's list and
leaves the rest of it. The flags only matter on a CPU backend. A convolution XLA fuses
into a YNNPACK reduction still runs there; the models' instance norm avoids such
fusions (``models._layers.InstanceNorm``).

Only the ``nectargan-jax train`` command run as a program applies them, and only for
options the user has not set in ``XLA_FLAGS`` already; ``import nectargan_jax`` sets
nothing. A script of its own calls ``nectargan_jax.train.apply_cpu_flags()`` first. ``NECTARGAN_JAX_XLA_CPU_FLAGS=0`` or ``train --no-xla-cpu-flags`` turns them off.
An unknown XLA flag aborts the process, so they are added only under the jaxlib releases
they were checked with (``CHECKED_JAXLIB``).
"""

from __future__ import annotations

from collections.abc import MutableMapping
import importlib.metadata
import os

# Each flag is added unless XLA_FLAGS already sets its option.
CPU_FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",)
# Set to one of OFF_VALUES to leave XLA_FLAGS alone.
SWITCH = "NECTARGAN_JAX_XLA_CPU_FLAGS"
OFF_VALUES = ("0", "false", "no", "off")
# jaxlib version prefixes whose XLA accepts CPU_FLAGS.
CHECKED_JAXLIB = ("0.10.",)


def jaxlib_checked() -> bool:
    """Whether the installed jaxlib is one ``CPU_FLAGS`` were checked with."""
    return importlib.metadata.version("jaxlib").startswith(CHECKED_JAXLIB)


def _option(flag: str) -> str:
    """``'--xla_x=1'`` -> ``'xla_x'``."""
    return flag.lstrip("-").split("=", 1)[0]


def with_cpu_flags(xla_flags: str) -> str:
    """``xla_flags`` with each of ``CPU_FLAGS`` appended whose option it does not set.

    Args:
      xla_flags: the current value of ``XLA_FLAGS`` (space-separated ``--option=value``).

    Returns:
      The flags to use: the user's first, unchanged, then ours.

    Examples:
      >>> with_cpu_flags("")
      '--xla_cpu_experimental_ynn_fusion_type=-individual_convolution'
      >>> with_cpu_flags("--xla_cpu_experimental_ynn_fusion_type=")
      '--xla_cpu_experimental_ynn_fusion_type='
    """
    present = {_option(flag) for flag in xla_flags.split()}
    added = [flag for flag in CPU_FLAGS if _option(flag) not in present]
    return " ".join([xla_flags.strip(), *added]).strip()


def apply_cpu_flags(environ: MutableMapping[str, str] | None = None) -> bool:
    """Adds ``CPU_FLAGS`` to ``environ['XLA_FLAGS']`` (``os.environ`` by default).

    Call it before the first JAX computation of the process: XLA reads ``XLA_FLAGS``
    once, when JAX starts its backend.

    Args:
      environ: the environment to change.

    Returns:
      False, changing nothing, when ``environ[SWITCH]`` is one of ``OFF_VALUES``
      (any case) or the installed jaxlib is not in ``CHECKED_JAXLIB``; True otherwise.
    """
    environ = os.environ if environ is None else environ
    if environ.get(SWITCH, "").strip().lower() in OFF_VALUES or not jaxlib_checked():
        return False
    environ["XLA_FLAGS"] = with_cpu_flags(environ.get("XLA_FLAGS", ""))
    return True
