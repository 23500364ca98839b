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


def positive_leaf(name: str, value: Any) -> jax.Array:
    """A real number > 0 as a float leaf (see :func:`real_leaf`)."""
    leaf = real_leaf(name, value)
    if not float(leaf) > 0:
        raise ValueError(f"{name} must be > 0, got {name}={value!r}.")
    return leaf


def fraction_leaf(name: str, value: Any) -> jax.Array:
    """A real number in ``[0, 1)`` as a float leaf (a decay or momentum)."""
    leaf = real_leaf(name, value)
    if not 0 <= float(leaf) < 1:
        raise ValueError(f"{name} must be in [0, 1), got {name}={value!r}.")
    return leaf


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
