"""From interop objects to the JAX core: schedules and loss managers.

``to_core_schedule`` gives a core ``nectargan_jax.Schedule`` that yields, at every epoch,
the weight interop applies at that epoch: interop's numbers are already shifted, so the
core schedule takes them as they are, and a default schedule (``s == Schedule()``, the
reference's test) becomes a constant of its ``current_value``. ``to_core_manager``
rebuilds a LossManager's losses in the core ``nectargan_jax.LossManager``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from interop.losses.lm_data import LMLoss
from interop.losses.loss_manager import LossManager
from interop.losses.losses import Laplacian, Sobel
from interop.scheduling.data import Schedule, is_default
from interop.scheduling.schedules import ScheduleDefs, schedule_map
from nectargan_jax import LossManager as CoreLossManager
from nectargan_jax import losses as core_losses
from nectargan_jax import scheduling as core

_BUILTIN_KINDS = {ScheduleDefs.linear: "linear", ScheduleDefs.exponential: "exponential"}


def _core_kind(schedule: Schedule) -> str | Callable[..., Any]:
    fn = schedule.schedule
    if isinstance(fn, str):
        if fn not in schedule_map:
            raise KeyError(f"Unknown schedule {fn!r}; valid names: {list(schedule_map)}.")
        fn = schedule_map[fn]
    if not callable(fn):
        raise TypeError(
            f"Invalid schedule type: {type(fn).__name__} ({fn!r}); valid types are a name "
            "in schedule_map or a callable.")
    return _BUILTIN_KINDS.get(fn, fn)


def to_core_schedule(schedule: Schedule, **options: Any) -> core.Schedule:
    """The core Schedule that yields ``schedule``'s weight at every epoch.

    Args:
        schedule: an interop ``Schedule``.
        **options: the schedule function's options (what ``compute_loss_xy`` receives as
            ``loss_kwargs['weight_kwargs']``), e.g. ``epsilon`` for ``'exponential'``.

    Returns:
        ``nectargan_jax.scheduling.constant(current_value)`` for a default schedule,
        otherwise a core ``Schedule`` of the same kind with the (shifted) numbers.

    Raises:
        KeyError: an unknown schedule name.
        TypeError: ``schedule`` is not an interop Schedule, or a custom schedule function
            that is not written with jax.numpy.
        ValueError: numbers the core rejects.

    Examples:
        >>> s = Schedule(end_epoch=10, target_value=0.0)
        >>> round(float(to_core_schedule(s)(0)), 6)
        0.9
    """
    if not isinstance(schedule, Schedule):
        raise TypeError(f"to_core_schedule takes an interop Schedule, got "
                        f"{type(schedule).__name__}: {schedule!r}.")
    if is_default(schedule):
        return core.constant(float(schedule.current_value))
    kind = _core_kind(schedule)
    numbers = dict(start_epoch=schedule.start_epoch, end_epoch=schedule.end_epoch,
                   initial_value=schedule.initial_value, target_value=schedule.target_value)
    if isinstance(kind, str):
        return core.Schedule(kind, options=options, **numbers)
    try:  # the core traces a custom function once when the Schedule is built
        return core.Schedule(kind, options=options, **numbers)
    except Exception as err:
        raise TypeError(
            f"The custom schedule function {getattr(kind, '__name__', kind)!r} is not "
            "core-compatible: a core schedule function must be written with jax.numpy, "
            "(schedule, epoch, **kwargs) -> array, and work with a traced epoch (no "
            f"Python branching on values). Building it failed with {type(err).__name__}: "
            f"{err}") from err


def _core_loss_fn(name: str, function: Any) -> Callable[..., Any]:
    if isinstance(function, Sobel):
        return core_losses.ImageLoss(core_losses.sobel, "NCHW")
    if isinstance(function, Laplacian):
        return core_losses.ImageLoss(core_losses.laplacian, "NCHW")
    supported = {torch.nn.L1Loss: core_losses.l1, torch.nn.MSELoss: core_losses.mse,
                 torch.nn.BCEWithLogitsLoss: core_losses.bce_with_logits}
    core_fn = supported.get(type(function))
    if core_fn is None:
        raise TypeError(
            f"Loss {name!r}: no core equivalent for {type(function).__name__} "
            f"({function!r}); supported: L1Loss, MSELoss, BCEWithLogitsLoss, "
            "interop Sobel, interop Laplacian.")
    if function.reduction != "mean":
        raise ValueError(
            f"Loss {name!r}: {type(function).__name__}(reduction={function.reduction!r}) "
            "has no core equivalent; the core functions take the mean.")
    if isinstance(function, torch.nn.BCEWithLogitsLoss) and (
            function.weight is not None or function.pos_weight is not None):
        raise ValueError(
            f"Loss {name!r}: BCEWithLogitsLoss with weight or pos_weight has no core "
            "equivalent.")
    return core_fn


def _core_weight(entry: LMLoss) -> float | core.Schedule:
    if is_default(entry.schedule):
        return float(entry.schedule.current_value)
    return to_core_schedule(entry.schedule)


def to_core_manager(manager: LossManager) -> CoreLossManager:
    """A core ``nectargan_jax.LossManager`` with ``manager``'s losses.

    Each loss keeps its name, tags and weight (a constant for an unscheduled loss, the
    ``to_core_schedule`` of its schedule otherwise); its torch module becomes the core
    function: ``L1Loss`` -> ``l1``, ``MSELoss`` -> ``mse``, ``BCEWithLogitsLoss`` ->
    ``bce_with_logits``, ``Sobel`` -> ``sobel``, ``Laplacian`` -> ``laplacian``; the image
    losses read NCHW batches, as interop's modules do (``ImageLoss(sobel, 'NCHW')``).
    ``history_buffer_size`` becomes the core's ``capacity`` and ``enable_logging`` its
    ``keep_history``; recorded history and the log are not carried over.

    Args:
        manager: an interop ``LossManager``.

    Returns:
        The core LossManager.

    Raises:
        TypeError: ``manager`` is not an interop LossManager, a loss function with no core
            equivalent (the message names it) or a schedule function that is not
            core-compatible.
        ValueError: a module configured unlike the core function (reduction other than
            ``'mean'``, BCE weights).
    """
    if not isinstance(manager, LossManager):
        raise TypeError(f"to_core_manager takes an interop LossManager, got "
                        f"{type(manager).__name__}: {manager!r}.")
    converted = CoreLossManager(capacity=manager.buffer_size,
                                keep_history=manager.enable_logging)
    for name, entry in manager.loss_fns.items():
        converted = converted.register(name, _core_loss_fn(name, entry.function),
                                       weight=_core_weight(entry), tags=tuple(entry.tags))
    return converted
