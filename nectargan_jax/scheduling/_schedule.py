"""``Schedule``: a weight (or learning-rate) schedule as an immutable pytree.

The numbers (``start_epoch``, ``end_epoch``, ``initial_value``, ``target_value``) form
the pytree's one leaf, so changing them or the epoch never recompiles; the kind (a
registered name or a custom function) and its keyword options are static. Validation runs in ``__init__``
on concrete values only: pytree unflattening bypasses it, and traced numbers are not
inspected.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping, Sequence
import inspect
import numbers
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from nectargan_jax._checks import check_epoch, float_dtype, number_array, show
from nectargan_jax._pytree import pytree_dataclass, static_field
from nectargan_jax.scheduling import _functions

DEFAULT_END_EPOCH = 10_000_000
_NUMBER_FIELDS = ("start_epoch", "end_epoch", "initial_value", "target_value")


class BaseSchedule(abc.ABC):
    """Anything that maps an epoch to a value with jnp ops and is a pytree.

    The LossManager accepts any subclass as a loss weight.
    """

    @abc.abstractmethod
    def __call__(self, epoch: ArrayLike) -> jax.Array:
        """The value at ``epoch`` (a scalar or an array of epochs; may be traced)."""


def _validate_kwargs(fn: Any, kwargs: tuple[tuple[str, Any], ...]) -> None:
    try:
        inspect.signature(fn).bind(None, None, **dict(kwargs))
    except TypeError as err:
        raise TypeError(
            f"schedule options {dict(kwargs)!r} do not fit the schedule function "
            f"{getattr(fn, '__name__', fn)!r}: {err}.") from None
    except ValueError:
        return  # builtins without a signature: nothing to check


def _option_pairs(options: Any) -> tuple[tuple[str, Any], ...]:
    """Options as a sorted tuple of ``(name, value)`` pairs."""
    if isinstance(options, Mapping):
        pairs = tuple(options.items())
    elif isinstance(options, Sequence) and not isinstance(options, str) and all(
            isinstance(p, (tuple, list)) and len(p) == 2 for p in options):
        pairs = tuple(tuple(p) for p in options)
    else:
        raise TypeError(f"options must be a mapping of keyword options (or a sequence of "
                        f"(name, value) pairs), got {options!r}.")
    for key, _ in pairs:
        if not isinstance(key, str):
            raise TypeError(f"options must be named by strings, got {key!r} in {options!r}.")
    return tuple(sorted(pairs))


def _check_exponential_options(options: dict[str, Any]) -> None:
    """``epsilon`` is a positive finite number; the two switches are bools."""
    if "epsilon" in options:
        epsilon = options["epsilon"]
        if isinstance(epsilon, (bool, np.bool_)) or not isinstance(epsilon, numbers.Real):
            raise TypeError(f"epsilon must be a positive finite number, got "
                            f"{type(epsilon).__name__}: {epsilon!r}.")
        if not (np.isfinite(epsilon) and epsilon > 0):
            raise ValueError(f"epsilon must be a positive finite number, got epsilon={epsilon!r}.")
    for flag in ("allow_zero_weights", "silent"):
        if flag in options and not isinstance(options[flag], (bool, np.bool_)):
            raise TypeError(f"{flag} must be a bool, got {type(options[flag]).__name__}: "
                            f"{options[flag]!r}.")


def _check_broadcastable(values: Mapping[str, Any]) -> None:
    """The four numbers must broadcast to one batch shape."""
    try:
        np.broadcast_shapes(*(np.shape(v) for v in values.values()))
    except ValueError:
        shapes = ", ".join(f"{n} shape {np.shape(v)}" for n, v in values.items())
        raise ValueError(f"start_epoch, end_epoch, initial_value and target_value must "
                         f"broadcast to one shape, got {shapes}.") from None


def _trial_trace(schedule: Schedule) -> None:
    """Traces a user's schedule function once, so Python control flow on traced values
    (``if epoch > start``, ``min(...)``, ``float(...)``) fails here and not under jit."""
    fn = schedule.fn
    name = getattr(fn, "__name__", repr(fn))
    returned = []

    def body(s, epoch):
        out = fn(s, epoch, **dict(s.options))
        returned.append(out)
        return jnp.zeros(())

    try:
        jax.eval_shape(body, schedule, jax.ShapeDtypeStruct((), float_dtype()))
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
            jax.errors.TracerIntegerConversionError) as err:
        raise TypeError(
            f"schedule function {name!r} uses a traced value in Python control flow (an "
            "if, min/max, float(), int() or a NumPy call on the epoch or the schedule's "
            "numbers), so it cannot run under jit; write it with jnp ops such as "
            f"jnp.where, jnp.clip, jnp.minimum. JAX said: {str(err).splitlines()[0]}"
        ) from None
    out = returned[0]
    dtype = getattr(out, "dtype", None)
    if dtype is None and isinstance(out, numbers.Real) and not isinstance(out, bool):
        return
    if dtype is None or not (jnp.issubdtype(dtype, jnp.floating)
                             or jnp.issubdtype(dtype, jnp.integer)):
        raise TypeError(f"schedule function {name!r} must return a real number or array "
                        f"(made with jnp ops), got {type(out).__name__}: {out!r}.")
    batch = schedule.numbers.shape[:-1]
    shape = tuple(out.shape)
    if len(shape) > len(batch) or any(o not in (1, b) for o, b in zip(shape[::-1], batch[::-1])):
        raise ValueError(f"schedule function {name!r} must return one value per schedule "
                         f"(shape {batch} for numbers of shape {batch}, at a scalar epoch), "
                         f"got shape {shape}.")


@pytree_dataclass
class Schedule(BaseSchedule):
    """A pure, jittable schedule of a value over epochs.

    ``s(epoch)`` is ``initial_value`` at and before ``start_epoch``, ``target_value`` at and
    after ``end_epoch``, and follows the kind's curve in between (no hidden epoch shift;
    see ``interop`` for the reference's conventions). Built-in kinds: ``'linear'``,
    ``'exponential'`` (options ``epsilon``, ``allow_zero_weights``, ``silent``),
    ``'cosine'`` and ``'constant'``, also built by the factories ``linear``,
    ``exponential``, ``cosine`` and ``constant``; ``register_schedule`` adds more, and a
    callable ``(schedule, epoch, **kwargs) -> value`` written with jnp works the same way.

    Args:
      schedule: a registered name or a schedule function. Static.
      start_epoch: epoch where the ramp starts.
      end_epoch: epoch where it ends; must be greater than ``start_epoch``.
      initial_value: value up to ``start_epoch``.
      target_value: value from ``end_epoch`` on.
      options: keyword options passed to the schedule function, as a mapping or a
        tuple of pairs; stored as a sorted tuple of pairs (static).

    Attributes:
      numbers: the pytree's one leaf, ``[start_epoch, end_epoch, initial_value,
        target_value]`` stacked on the last axis (``shape=(..., 4)``; leading axes for a
        stacked batch). One leaf instead of four: a jitted step pays for every leaf it
        takes in and hands back. The four names read it.
      fn: the schedule function, resolved when the Schedule is built (static, so a
        later ``register_schedule(..., overwrite=True)`` affects new Schedules only).

    Raises:
      ValueError: unknown name, ``end_epoch <= start_epoch``, non-finite numbers,
        negative values for ``'exponential'`` (or zero with neither
        ``allow_zero_weights`` nor ``silent``).
      TypeError: a kind that is neither a name nor a callable, non-numeric numbers,
        options the function does not accept (``'exponential'``: ``epsilon`` must be a
        positive finite number, the switches bools), or a custom function that branches
        in Python on a traced value or returns something other than real numbers (found
        by tracing it once when the Schedule is built).

    Examples:
      >>> s = Schedule('linear', start_epoch=0, end_epoch=10, initial_value=1.0,
      ...              target_value=0.0)
      >>> float(s(5))
      0.5
    """

    schedule: Any = static_field(default="linear")
    start_epoch: dataclasses.InitVar[ArrayLike] = 0
    end_epoch: dataclasses.InitVar[ArrayLike] = DEFAULT_END_EPOCH
    initial_value: dataclasses.InitVar[ArrayLike] = 1.0
    target_value: dataclasses.InitVar[ArrayLike] = 1.0
    options: Any = static_field(default=())
    numbers: jax.Array = dataclasses.field(init=False)
    fn: Any = static_field(init=False)

    def __post_init__(self, start_epoch, end_epoch, initial_value, target_value):
        fn = _functions.resolve_schedule_fn(self.schedule)
        object.__setattr__(self, "fn", fn)
        given = (start_epoch, end_epoch, initial_value, target_value)
        values = {name: number_array(name, v) for name, v in zip(_NUMBER_FIELDS, given)}
        options = _option_pairs(self.options)
        object.__setattr__(self, "options", options)
        _validate_kwargs(fn, options)
        if fn is _functions.exponential:
            _check_exponential_options(dict(options))
        _check_broadcastable(values)
        if all(isinstance(v, np.ndarray) for v in values.values()):
            self._check_numbers(**values)
            numbers = jnp.asarray(np.stack(np.broadcast_arrays(*values.values()), axis=-1))
        else:
            numbers = jnp.stack(jnp.broadcast_arrays(*values.values()), axis=-1)
        object.__setattr__(self, "numbers", numbers)
        if fn not in _functions.BUILT_IN:
            _trial_trace(self)

    def _check_numbers(self, start_epoch: np.ndarray, end_epoch: np.ndarray,
                       initial_value: np.ndarray, target_value: np.ndarray) -> None:
        """Cross-field checks, on concrete (host) values only."""
        def pair(a: str, av: np.ndarray, b: str, bv: np.ndarray, bad: np.ndarray) -> str:
            av, bv, bad = np.broadcast_arrays(av, bv, bad)
            return f"{a}={show(av, bad)}, {b}={show(bv, bad)}"

        if self.schedule != "constant" and np.any(end_epoch <= start_epoch):
            bad = end_epoch <= start_epoch
            raise ValueError("end_epoch must be greater than start_epoch, got " + pair(
                "start_epoch", start_epoch, "end_epoch", end_epoch, bad) + ".")
        if self.schedule != "exponential":
            return
        negative = (initial_value < 0) | (target_value < 0)
        if np.any(negative):
            raise ValueError(
                "schedule='exponential' requires initial_value >= 0 and target_value >= 0, "
                "got " + pair("initial_value", initial_value, "target_value", target_value,
                              negative) + ".")
        opts = dict(self.options)
        strict = not opts.get("allow_zero_weights", True) and not opts.get("silent", False)
        zero = (initial_value == 0) | (target_value == 0)
        if strict and np.any(zero):
            raise ValueError(
                "schedule='exponential' with allow_zero_weights=False and silent=False "
                "cannot reach or leave 0, got " + pair(
                    "initial_value", initial_value, "target_value", target_value, zero) + ".")

    def __repr__(self) -> str:
        numbers = ", ".join(f"{n}={getattr(self, n)!r}" for n in _NUMBER_FIELDS)
        return f"Schedule(schedule={self.schedule!r}, {numbers}, options={self.options!r})"

    def replace(self, **updates: Any) -> Schedule:
        """A copy with ``updates`` (any constructor argument), validated like a new one.

        Raises:
          TypeError: an update that is not a constructor argument; see ``Schedule``.
        """
        accepted = ("schedule", *_NUMBER_FIELDS, "options")
        unknown = sorted(set(updates) - set(accepted))
        if unknown:
            raise TypeError(f"Schedule.replace takes the constructor's arguments {accepted}, "
                            f"got {unknown}.")
        arguments = {n: getattr(self, n) for n in _NUMBER_FIELDS}
        arguments.update(schedule=self.schedule, options=self.options)
        arguments.update(updates)
        return Schedule(**arguments)

    @property
    def max_value(self) -> jax.Array:
        """``max(initial_value, target_value)``: the reference's normaliser."""
        return jnp.maximum(self.initial_value, self.target_value)

    def __call__(self, epoch: ArrayLike) -> jax.Array:
        """The value at ``epoch`` (a scalar or an array of epochs; may be traced).

        Raises:
          TypeError, ValueError: a concrete epoch that is not made of finite real numbers
            (a traced one is not inspected), or epochs whose shape does not broadcast
            with a stacked schedule's batch shape.
        """
        check_epoch(epoch)
        batch = self.numbers.shape[:-1]
        try:
            np.broadcast_shapes(np.shape(epoch), batch)
        except ValueError:
            raise ValueError(f"epoch of shape {np.shape(epoch)} does not broadcast with this "
                             f"schedule's batch shape {batch}.") from None
        epoch = jnp.asarray(epoch, dtype=jnp.result_type(self.initial_value))
        return self.fn(self, epoch, **dict(self.options))

    def multiplier(self, epoch: ArrayLike) -> jax.Array:
        """``self(epoch) / max(initial_value, target_value)``, the reference's LR lambda.

        NaN when both values are 0 (the reference divides by zero there).
        """
        return self(epoch) / self.max_value


def _number_property(index: int, name: str) -> property:
    return property(lambda self: self.numbers[..., index],
                    doc=f"``{name}``: entry {index} of the last axis of ``numbers``.")


for _index, _name in enumerate(_NUMBER_FIELDS):
    setattr(Schedule, _name, _number_property(_index, _name))


def stack(schedules: Sequence[Schedule]) -> Schedule:
    """Stacks Schedules of one kind into one whose numbers have a leading batch axis.

    The result works with ``jax.vmap(lambda s, e: s(e))`` over the batch.

    Raises:
      TypeError: ``schedules`` is not a sequence of Schedules.
      ValueError: the sequence is empty or mixes kinds, options or shapes.
    """
    if not isinstance(schedules, Sequence) or isinstance(schedules, str):
        raise TypeError(f"schedules must be a sequence of Schedules, got "
                        f"{type(schedules).__name__}: {schedules!r}.")
    schedules = list(schedules)
    if not schedules:
        raise ValueError("stack requires at least one schedule, got an empty sequence.")
    for i, s in enumerate(schedules):
        if not isinstance(s, Schedule):
            raise TypeError(f"schedules[{i}] must be a Schedule, got {type(s).__name__}: {s!r}.")
    structures = {jax.tree.structure(s) for s in schedules}
    if len(structures) != 1:
        kinds = sorted({(repr(s.schedule), repr(s.options)) for s in schedules})
        raise ValueError(
            f"stack requires schedules of one kind and options, got {kinds}.")
    shapes = sorted({s.numbers.shape[:-1] for s in schedules})
    if len(shapes) != 1:
        raise ValueError(f"stack requires schedules of one shape, got shapes {shapes}.")
    return jax.tree.map(lambda *xs: jnp.stack(xs), *schedules)
