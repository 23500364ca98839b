"""Built-in schedule functions and the registry that names them.

A schedule function is pure: ``fn(schedule, epoch, **kwargs) -> jax.Array``, made of
``jnp`` ops only, so it works under ``jit``, ``grad``, ``vmap`` and ``lax.scan`` with a
traced epoch. Every built-in clamps its result to ``[lowest, highest]`` with
``lowest = max(0, min(initial, target))`` and ``highest = max(initial, target)``, as the
reference does (so weights never go below zero).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import types
from typing import Any

import jax
import jax.numpy as jnp

ScheduleFn = Callable[..., jax.Array]


def progress(schedule: Any, epoch: jax.Array) -> jax.Array:
    """Fraction of the ramp done at ``epoch``: ``clip((e - start) / (end - start), 0, 1)``."""
    span = schedule.end_epoch - schedule.start_epoch
    return jnp.clip((epoch - schedule.start_epoch) / span, 0.0, 1.0)


def clamp_to_bounds(value: jax.Array, initial: jax.Array, target: jax.Array) -> jax.Array:
    """``min(highest, max(lowest, value))`` with the reference's bounds (never below 0)."""
    lowest = jnp.maximum(0.0, jnp.minimum(initial, target))
    highest = jnp.maximum(initial, target)
    return jnp.minimum(highest, jnp.maximum(lowest, value))


def constant(schedule: Any, epoch: jax.Array) -> jax.Array:
    """``initial_value`` at every epoch (an unscheduled weight)."""
    shape = jnp.broadcast_shapes(jnp.shape(epoch), jnp.shape(schedule.initial_value))
    return jnp.broadcast_to(schedule.initial_value, shape)


def linear(schedule: Any, epoch: jax.Array) -> jax.Array:
    """``initial + p * (target - initial)`` with ``p = progress(epoch)``, clamped."""
    p = progress(schedule, epoch)
    initial, target = schedule.initial_value, schedule.target_value
    return clamp_to_bounds(initial + p * (target - initial), initial, target)


def cosine(schedule: Any, epoch: jax.Array) -> jax.Array:
    """``initial + (target - initial) * (1 - cos(pi * p)) / 2``, clamped."""
    p = progress(schedule, epoch)
    initial, target = schedule.initial_value, schedule.target_value
    eased = 0.5 * (1.0 - jnp.cos(jnp.pi * p))
    return clamp_to_bounds(initial + eased * (target - initial), initial, target)


def exponential(
        schedule: Any,
        epoch: jax.Array,
        epsilon: float = 1e-9,
        allow_zero_weights: bool = True,
        silent: bool = False,
) -> jax.Array:
    """``initial * (target / initial) ** p``, clamped.

    When ``initial`` or ``target`` is 0 the geometric ramp is undefined. With
    ``allow_zero_weights`` both values are raised to at least ``epsilon`` first (decay stops
    just above 0); otherwise with ``silent`` the value steps from ``initial`` to ``target``
    when ``p`` reaches 1. With neither, a zero value is rejected when the Schedule is built.
    Both branches are ``jnp.where`` selections, so a traced zero works too.
    """
    p = progress(schedule, epoch)
    initial, target = schedule.initial_value, schedule.target_value
    has_zero = (initial == 0) | (target == 0)
    if allow_zero_weights:
        initial = jnp.where(has_zero, jnp.maximum(initial, epsilon), initial)
        target = jnp.where(has_zero, jnp.maximum(target, epsilon), target)
        return clamp_to_bounds(initial * (target / initial) ** p, initial, target)
    if silent:
        safe_initial = jnp.where(has_zero, 1.0, initial)
        safe_target = jnp.where(has_zero, 1.0, target)
        ramp = clamp_to_bounds(
                safe_initial * (safe_target / safe_initial) ** p, safe_initial, safe_target)
        return jnp.where(has_zero, jnp.where(p >= 1.0, target, initial), ramp)
    return clamp_to_bounds(initial * (target / initial) ** p, initial, target)


_REGISTRY: dict[str, ScheduleFn] = {
        "constant": constant,
        "linear": linear,
        "exponential": exponential,
        "cosine": cosine,
}


def register_schedule(name: str, fn: ScheduleFn, *, overwrite: bool = False) -> None:
    """Adds ``fn`` to the registry under ``name`` so ``Schedule(schedule=name)`` finds it.

    Args:
        name: the name users pass as ``Schedule(schedule=name)``.
        fn: a pure function ``(schedule, epoch, **kwargs) -> jax.Array`` written with jnp.
        overwrite: replace an existing entry instead of raising.

    Raises:
        TypeError: ``name`` is not a string or ``fn`` is not callable.
        ValueError: ``name`` is taken and ``overwrite`` is False.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_schedule requires a non-empty string name, got {name!r}.")
    if not callable(fn):
        raise TypeError(f"register_schedule requires a callable fn, got {fn!r}.")
    if name in _REGISTRY and not overwrite:
        raise ValueError(
                f"schedule name {name!r} is already registered; pass overwrite=True to replace it.")
    _REGISTRY[name] = fn


def schedule_functions() -> Mapping[str, ScheduleFn]:
    """A read-only view of the registry: name -> schedule function."""
    return types.MappingProxyType(_REGISTRY)


def resolve_schedule_fn(schedule: str | ScheduleFn) -> ScheduleFn:
    """The function for a registered name, or ``schedule`` itself if it is callable.

    Raises:
        ValueError: an unknown name (the message lists the registered ones).
        TypeError: neither a string nor a callable.
    """
    if isinstance(schedule, str):
        try:
            return _REGISTRY[schedule]
        except KeyError:
            accepted = ", ".join(repr(k) for k in _REGISTRY)
            raise ValueError(
                    f"schedule={schedule!r} is not a registered schedule; accepted: {accepted}, "
                    "or a callable (schedule, epoch, **kwargs) -> value.") from None
    if callable(schedule):
        return schedule
    raise TypeError(
            "schedule must be a registered name or a callable (schedule, epoch, **kwargs) -> "
            f"value, got {type(schedule).__name__}: {schedule!r}.")
