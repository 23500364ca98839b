"""Test configuration: strict broadcasting, one compilation cache for the subprocesses,
LLVM's -O0 on a CPU, and ``helpers`` importable from every test file."""

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile

# The commands and scripts the tests start in subprocesses share one persistent
# compilation cache for the whole session (pytest-xdist's workers inherit the folder
# from the main process), so a program one of them compiled loads from disk in the
# next. The test processes themselves keep it off: tests count their compilations.
# This runs before JAX is imported, which reads JAX_COMPILATION_CACHE_DIR at import.
_SHARED_CACHE = "NECTARGAN_JAX_TEST_XLA_CACHE"
os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
if _SHARED_CACHE not in os.environ:
    os.environ[_SHARED_CACHE] = tempfile.mkdtemp(prefix="nectargan-jax-tests-xla-")
    atexit.register(shutil.rmtree, os.environ[_SHARED_CACHE], ignore_errors=True)


def _cpu_only() -> bool:
    """Whether JAX can only compute on the CPU here: ``JAX_PLATFORMS`` says so, or no
    accelerator plugin (``jax_plugins``, ``libtpu``) is installed."""
    platforms = os.environ.get("JAX_PLATFORMS")
    if platforms:
        return platforms == "cpu"
    return not any(importlib.util.find_spec(name) for name in ("jax_plugins", "libtpu"))


# On a CPU the tests (and the processes they start) compile at LLVM's -O0: XLA's own
# passes, which decide the program (fusions, layouts, the convolution forms the tests
# look for), run as always; only the machine code is less optimised. Compilation is
# most of the suite's time, and this halves it (12.7 -> 8.6 min on 2 cores). Speeds are
# measured in benchmarks/, at the default level.
_TEST_OPT_LEVEL = "--xla_backend_optimization_level=0"
if _cpu_only() and "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_TEST_OPT_LEVEL}".strip()

import jax  # noqa: E402

os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ[_SHARED_CACHE]

# Implicit rank promotion (e.g. adding shapes (3,) and (2, 3)) is an error in every test:
# a cheap way to catch silent broadcasting mistakes (equinox's conftest does the same).
jax.config.update("jax_numpy_rank_promotion", "raise")

# The training command's persistent compilation cache stays off in tests (it would
# write to the user's cache folder); tests that check it give --compile-cache.
os.environ.setdefault("NECTARGAN_JAX_COMPILE_CACHE", "off")

# Test files import the shared helpers as ``from helpers import ...``.
_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)


# The slowest test files (real processes, simulated devices, whole training runs, the
# GPU check's smoke run) start first, so that the README's two pytest-xdist workers,
# which take whole files in this order (pyproject's --no-loadscope-reorder), end
# together instead of one running the longest file alone at the end.
_SLOW_FILES = ("test_train_processes.py", "test_train_loop.py", "test_train_rules.py",
               "test_train_sharding.py", "test_readme.py", "test_train_step.py",
               "test_gpu_check.py", "test_cli.py", "test_export.py", "test_conv_impl.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(_SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
