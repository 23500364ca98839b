"""Test configuration: strict broadcasting, and ``helpers`` importable from every test file."""

import os
import sys

import jax

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
