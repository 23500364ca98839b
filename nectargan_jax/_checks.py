"""Checks of user input shared by every package: each returns the value in the form the
code keeps (a float array, an ``int32`` leaf...) or raises an error naming the argument,
the value and what is accepted. Validation runs in Python on concrete values; a traced
value passes through unchecked (its value is unknown while tracing).
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def float_dtype() -> np.dtype:
    """The float dtype JAX uses for Python floats (float32, or float64 with x64)."""
    return np.dtype(jnp.result_type(float))


def is_traced(tree: Any) -> bool:
    """Whether any leaf of ``tree`` is a tracer (we are inside jit, grad, vmap...)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(tree))


def on_host(what: str, *trees: Any) -> None:
    """Refuses host work on traced values, naming the method.

    Raises:
      TypeError: a leaf of ``trees`` is traced: ``"<what> reads records on the host;
        call it outside jit/vmap"``.
    """
    if is_traced(trees):
        raise TypeError(f"{what} reads records on the host; call it outside jit/vmap "
                        "(on the manager a jitted step returns).")


def saturating_add(count: jax.Array, increment: Any) -> jax.Array:
    """``count + increment`` for int32 counters and increments >= 0, saturating at the
    int32 maximum instead of wrapping to negative numbers (jnp, traceable).

    Examples:
      >>> int(saturating_add(jnp.int32(2**31 - 2), 5))
      2147483647
    """
    top = jnp.iinfo(jnp.int32).max
    increment = jnp.asarray(increment, jnp.int32)
    return jnp.where(increment > top - count, top, count + increment)


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a Python bool; TypeError for anything else (an int included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}: {value!r}.")
    return bool(value)


def number_array(name: str, value: Any) -> np.ndarray | jax.Array:
    """Checks a user number (or sequence of numbers) and returns it as a float array.

    Concrete values come back as NumPy arrays (validated on the host: bools, non-numbers
    and non-finite numbers are rejected); traced values come back as they are.
    """
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Real):
                raise TypeError(f"{name} must hold real numbers, got {item!r} in {value!r}.")
        value = np.asarray(value, dtype=float)
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got bool {value!r}.")
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        if not (jnp.issubdtype(value.dtype, jnp.integer)
                or jnp.issubdtype(value.dtype, jnp.floating)):
            raise TypeError(f"{name} must be a real number, got dtype {value.dtype}.")
    elif not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}: {value!r}.")
    if isinstance(value, jax.core.Tracer):
        return value.astype(float_dtype())
    array = np.asarray(value, dtype=float_dtype())
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {name}={show(array, ~np.isfinite(array))}.")
    return array


def number_leaf(name: str, value: Any) -> jax.Array:
    """``number_array`` as a device array (a pytree leaf)."""
    return jnp.asarray(number_array(name, value))


def check_epoch(value: Any, name: str = "epoch") -> None:
    """Rejects an epoch (or array of epochs) that is not made of finite real numbers.

    A traced epoch passes unchecked: its value is unknown while tracing.

    Raises:
      TypeError: a bool, a string, None, a complex or boolean array...
      ValueError: NaN or an infinity (the message shows the first one).

    Examples:
      >>> check_epoch([0, 5, 10])
      >>> check_epoch([0, float('nan')])
      Traceback (most recent call last):
      ...
      ValueError: epoch must be finite, got epoch=nan (at index (1,) of shape (2,)).
    """
    number_array(name, value)


def show(array: np.ndarray, bad: np.ndarray) -> str:
    """The value, or for a batch the first offending entry and its index."""
    if array.ndim == 0:
        return repr(array.item())
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{array[index].item()!r} (at index {index} of shape {array.shape})"


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


def check_precision(precision: Any) -> int:
    """``precision`` (digits after the point) as a non-negative int.

    Raises:
      TypeError: not an int (a bool included).
      ValueError: negative.

    Examples:
      >>> check_precision(2)
      2
      >>> check_precision('2')
      Traceback (most recent call last):
      ...
      TypeError: precision must be a non-negative int, got str: '2'.
    """
    if isinstance(precision, (bool, np.bool_)) or not isinstance(precision, numbers.Integral):
        raise TypeError(f"precision must be a non-negative int, got "
                        f"{type(precision).__name__}: {precision!r}.")
    if precision < 0:
        raise ValueError(f"precision must be a non-negative int, got {precision!r}.")
    return int(precision)


def increasing_knots(points: Any, values: Any, caller: str, names: tuple[str, str]
                     ) -> tuple[jax.Array, jax.Array]:
    """The knots of a piecewise-linear curve as two float leaves: as many ``values`` as
    ``points``, the points strictly increasing; errors name ``caller`` and its arguments
    ``names`` (the points' name first)."""
    xs, ys = (number_leaf(name, v) for name, v in zip(names, (points, values)))
    for name, array in ((names[1], ys), (names[0], xs)):
        if array.ndim != 1 or array.size == 0:
            raise ValueError(f"{caller}: {name} must be a non-empty 1-D sequence, got shape "
                             f"{array.shape}.")
    if xs.shape != ys.shape:
        raise ValueError(f"{caller}: {names[0]} and {names[1]} must have the same length, got "
                         f"{xs.size} {names[0]} and {ys.size} {names[1]}.")
    steps = np.diff(np.asarray(xs))
    if np.any(steps <= 0):
        at, name = int(np.argmax(steps <= 0)), names[0]
        raise ValueError(f"{caller}: {name} must be strictly increasing, got {name}[{at}]="
                         f"{float(xs[at])!r} then {name}[{at + 1}]={float(xs[at + 1])!r}.")
    return xs, ys
