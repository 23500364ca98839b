"""The ``>>>`` examples in the core's docstrings run and print what they show."""

import doctest
import importlib
import pkgutil

import pytest

import nectargan_jax


def modules_with_examples():
    """Every module of the package holding a ``>>>`` example (``__main__`` would run)."""
    finder, names = doctest.DocTestFinder(), []
    for info in pkgutil.walk_packages(nectargan_jax.__path__, "nectargan_jax."):
        if info.name.endswith("__main__"):
            continue
        if any(test.examples for test in finder.find(importlib.import_module(info.name))):
            names.append(info.name)
    return sorted(names)


def test_the_examples_are_found():
    assert {"nectargan_jax.scheduling._schedule", "nectargan_jax.manager._manager",
            "nectargan_jax.losses._functions"} <= set(modules_with_examples())


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
