"""The bridge to optax: schedules as ``optax.Schedule`` and optax schedules as weights.

optax counts optimizer steps from 0; a Schedule counts epochs. With ``steps_per_epoch``
and a ``stepping`` mode the two meet: ``'epoch'`` holds the value for a whole epoch
(``epoch = count // steps_per_epoch``, like the reference's ``TorchScheduler`` stepped once
per epoch) and ``'step'`` moves it every step (``epoch = count / steps_per_epoch``).
"""

from __future__ import annotations

from collections.abc import Callable
import inspect
import numbers
import sys
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np
import optax

from nectargan_jax._pytree import pytree_dataclass, static_field
from nectargan_jax._checks import check_epoch
from nectargan_jax.scheduling._schedule import BaseSchedule

_STEPPINGS = ("epoch", "step")


def _check_steps_per_epoch(steps_per_epoch: Any) -> int:
    """``steps_per_epoch`` as a Python int; TypeError for non-integers, ValueError if < 1."""
    if isinstance(steps_per_epoch, (bool, np.bool_)) or \
            not isinstance(steps_per_epoch, numbers.Integral):
        raise TypeError(f"steps_per_epoch must be a positive int, got {steps_per_epoch=}.")
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be a positive int, got {steps_per_epoch=}.")
    return int(steps_per_epoch)


@pytree_dataclass
class OptaxSchedule(BaseSchedule):
    """A weight driven by an optax schedule: ``value(epoch) = fn(epoch * steps_per_epoch)``.

    ``fn`` is static (hashed by identity): build it once, not inside a jitted function.
    Build it with :func:`from_optax`.
    """

    fn: Callable[[ArrayLike], ArrayLike] = static_field()
    steps_per_epoch: int = static_field(default=1)

    def __call__(self, epoch: ArrayLike) -> jax.Array:
        check_epoch(epoch)
        return jnp.asarray(self.fn(jnp.asarray(epoch) * self.steps_per_epoch))


def from_optax(fn: Callable[[ArrayLike], ArrayLike], steps_per_epoch: int = 1) -> OptaxSchedule:
    """Wraps any optax schedule (count -> value) so it can weight a loss.

    Args:
      fn: an optax schedule, e.g. ``optax.cosine_decay_schedule(1.0, 1000)``.
      steps_per_epoch: optimizer steps per epoch; the epoch may be fractional.

    Raises:
      TypeError: ``fn`` is not callable, or ``steps_per_epoch`` is not an int.
      ValueError: ``steps_per_epoch`` < 1.

    Examples:
      >>> import optax
      >>> w = from_optax(optax.linear_schedule(1.0, 0.0, 100), steps_per_epoch=10)
      >>> float(w(5))
      0.5
    """
    if not callable(fn):
        raise TypeError(f"from_optax requires a callable optax schedule, got {fn!r}.")
    return OptaxSchedule(fn, _check_steps_per_epoch(steps_per_epoch))


@pytree_dataclass
class AsOptaxSchedule:
    """A schedule seen by optax: ``count -> value``. Build it with :func:`to_optax`."""

    schedule: BaseSchedule
    steps_per_epoch: int = static_field(default=1)
    stepping: str = static_field(default="epoch")

    def __call__(self, count: ArrayLike) -> jax.Array:
        check_epoch(count, "count")
        count = jnp.asarray(count)
        if self.stepping == "epoch":
            epoch = count // self.steps_per_epoch
        else:
            epoch = count / self.steps_per_epoch
        return self.schedule(epoch)


def to_optax(schedule: BaseSchedule, steps_per_epoch: int = 1,
             stepping: str = "epoch") -> AsOptaxSchedule:
    """A schedule as an ``optax.Schedule`` (optimizer step count -> value).

    Args:
      schedule: any schedule of this package.
      steps_per_epoch: optimizer steps per epoch.
      stepping: ``'epoch'`` (value changes once per epoch, like the reference) or
        ``'step'`` (fractional epochs, changes every step).

    Raises:
      TypeError: ``schedule`` is not a schedule, or ``steps_per_epoch`` is not an int.
      ValueError: ``steps_per_epoch`` < 1, or an unknown ``stepping``.

    Examples:
      >>> from nectargan_jax.scheduling import Schedule
      >>> lr = to_optax(Schedule('linear', 0, 10, 1.0, 0.0), steps_per_epoch=4)
      >>> round(float(lr(7)), 6), round(float(lr(8)), 6)  # epochs 1 and 2
      (0.9, 0.8)
    """
    if not isinstance(schedule, BaseSchedule):
        raise TypeError(f"to_optax requires a Schedule, got {schedule!r}.")
    steps_per_epoch = _check_steps_per_epoch(steps_per_epoch)
    if stepping not in _STEPPINGS:
        raise ValueError(f"stepping must be one of {_STEPPINGS}, got {stepping=}.")
    return AsOptaxSchedule(schedule, steps_per_epoch, stepping)


def _check_optimizer(optimizer: Any, kwargs: dict[str, Any]) -> None:
    """``optimizer`` must be a factory taking ``learning_rate`` and ``kwargs``."""
    if not callable(optimizer):
        hint = f" (pass optax.{optimizer}, not a string)" if isinstance(optimizer, str) else ""
        raise TypeError(f"optimizer must be an optax optimizer factory such as optax.adam, "
                        f"got {type(optimizer).__name__}: {optimizer!r}{hint}.")
    name = getattr(optimizer, "__name__", repr(optimizer))
    if "learning_rate" in kwargs:
        raise TypeError(f"learning_rate must not be given to scheduled_optimizer: it comes "
                        f"from the schedule, got learning_rate={kwargs['learning_rate']!r}.")
    try:
        signature = inspect.signature(optimizer)
    except (TypeError, ValueError):
        return
    if "learning_rate" not in signature.parameters:
        raise TypeError(f"optimizer {name!r} takes no learning_rate argument, so a schedule "
                        "cannot drive it; pass a factory such as optax.adam or optax.sgd.")
    try:
        signature.bind(learning_rate=None, **kwargs)
    except TypeError as err:
        raise TypeError(f"optimizer_kwargs {kwargs!r} do not fit optimizer {name!r}: "
                        f"{err}.") from None


def scheduled_optimizer(
    optimizer: Callable[..., optax.GradientTransformation],
    schedule: BaseSchedule,
    *,
    steps_per_epoch: int = 1,
    stepping: str = "epoch",
    **optimizer_kwargs: Any,
) -> optax.GradientTransformation:
    """An optax optimizer whose learning rate follows ``schedule``.

    Built with ``optax.inject_hyperparams``, so the applied rate lives in the optimizer
    state and :func:`current_learning_rate` reads it.

    Args:
      optimizer: an optax optimizer factory taking ``learning_rate``, e.g. ``optax.adam``.
      schedule: the learning-rate schedule.
      steps_per_epoch: optimizer steps per epoch.
      stepping: ``'epoch'`` or ``'step'`` (see :func:`to_optax`).
      **optimizer_kwargs: other arguments of ``optimizer`` (e.g. ``b1=0.5``).

    Raises:
      TypeError: ``optimizer`` is not an optax optimizer factory taking
        ``learning_rate`` (a name such as ``'adam'`` included), ``optimizer_kwargs`` do
        not fit it or include ``learning_rate``; see :func:`to_optax` for the rest.
      ValueError: see :func:`to_optax`.

    Examples:
      >>> import optax
      >>> from nectargan_jax.scheduling import Schedule
      >>> tx = scheduled_optimizer(optax.adam, Schedule('linear', 100, 200, 2e-4, 0.0),
      ...                          b1=0.5, b2=0.999)
    """
    _check_optimizer(optimizer, optimizer_kwargs)
    lr = to_optax(schedule, steps_per_epoch, stepping)
    return optax.inject_hyperparams(optimizer)(learning_rate=lr, **optimizer_kwargs)


def current_learning_rate(opt_state: Any) -> jax.Array:
    """The learning rate applied by the latest update (JAX's ``TorchScheduler.get_lr()``).

    optax evaluates the schedule at the step count before each update, so after ``k``
    updates this is ``schedule(k - 1)`` (and ``schedule(0)`` right after ``init``).

    Args:
      opt_state: an optax optimizer state holding an ``inject_hyperparams`` state (e.g.
        from :func:`scheduled_optimizer`), or a ``flax.nnx.Optimizer`` built with such an
        optimizer, or its ``opt_state`` (whose numbers are nnx Variables).

    Returns:
      The rate as a ``jax.Array`` (a scalar), in every case.

    Raises:
      ValueError: no ``inject_hyperparams`` state with a ``learning_rate`` in ``opt_state``.

    Examples:
      >>> import optax
      >>> from nectargan_jax.scheduling import linear
      >>> tx = scheduled_optimizer(optax.sgd, linear(0, 10, 1.0, 0.0))
      >>> state = tx.init({'w': jnp.zeros(2)})
      >>> for _ in range(3):
      ...     _, state = tx.update({'w': jnp.ones(2)}, state)
      >>> round(float(current_learning_rate(state)), 6)  # schedule(2)
      0.8
    """
    # An nnx object exists only once flax is imported: scheduling itself never imports it.
    nnx = sys.modules.get("flax.nnx")
    if nnx is not None and isinstance(opt_state, nnx.Optimizer):
        opt_state = opt_state.opt_state
    kinds = (optax.InjectHyperparamsState, optax.InjectStatefulHyperparamsState)
    nodes = jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, kinds))
    for node in nodes:
        if isinstance(node, kinds) and "learning_rate" in node.hyperparams:
            rate = node.hyperparams["learning_rate"]
            return jnp.asarray(rate[...] if nnx is not None and isinstance(rate, nnx.Variable)
                               else rate)
    raise ValueError(
        "opt_state holds no inject_hyperparams state with a 'learning_rate'; build the "
        "optimizer with scheduled_optimizer(...) or optax.inject_hyperparams(...), got "
        f"{type(opt_state).__name__}.")
