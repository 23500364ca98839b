"""Checks of the numbers a rule factory takes: each returns the number as a leaf, or
raises an error naming the argument, the value and what is accepted."""

from __future__ import annotations

import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nectargan_jax.scheduling._schedule import number_leaf


def real_leaf(name: str, value: Any) -> jax.Array:
    """A finite real scalar as a float leaf.

    Raises:
      TypeError: not a real number (a bool, a string, an array of several numbers...).
      ValueError: NaN or an infinity.
    """
    if np.ndim(value) != 0:
        raise TypeError(f"{name} must be a real number, got an array of shape "
                        f"{np.shape(value)}.")
    return number_leaf(name, value)


def ranged_leaf(name: str, value: Any, low: float | None = None, high: float | None = None,
                *, low_open: bool = False, high_open: bool = False) -> jax.Array:
    """A real number in a range as a float leaf (see :func:`real_leaf`); a bound left
    None is unbounded, an open one excluded. The error shows the range as written."""
    leaf = real_leaf(name, value)
    number = float(leaf)
    below = low is not None and (number < low or (low_open and number == low))
    above = high is not None and (number > high or (high_open and number == high))
    if below or above:
        if high is None:
            accepted = f"{'>' if low_open else '>='} {low}"
        else:
            accepted = (f"in {'(' if low_open else '['}{low}, {high}"
                        f"{')' if high_open else ']'}")
        raise ValueError(f"{name} must be {accepted}, got {name}={value!r}.")
    return leaf


def positive_leaf(name: str, value: Any) -> jax.Array:
    """A real number > 0 as a float leaf."""
    return ranged_leaf(name, value, 0, low_open=True)


def fraction_leaf(name: str, value: Any) -> jax.Array:
    """A real number in ``[0, 1)`` as a float leaf (a decay or momentum)."""
    return ranged_leaf(name, value, 0, 1, high_open=True)


def count_leaf(name: str, value: Any) -> jax.Array:
    """A positive int as an ``int32`` leaf.

    Raises:
      TypeError: not an int (a bool, a float...).
      ValueError: ``value < 1``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__}: "
                        f"{value!r}.")
    if not 1 <= value <= np.iinfo(np.int32).max:
        raise ValueError(f"{name} must be a positive int (at most 2**31 - 1), got "
                         f"{name}={value!r}.")
    return jnp.asarray(value, jnp.int32)
