"""``LossManager``: registered, weighted, scheduled and logged losses (PyTorch).

Same API, outputs and files as the reference's LossManager. Deliberate differences
(defects of the reference, fixed):

- D1: each loss registered without a schedule or tags owns a new ``Schedule()`` and a
  new tags list (the reference shares one default instance between them, so they all
  get the weight of the last one registered).
- D2: history and log record the weight applied at each call (the reference records
  ``loss_weight``, which stays the initial value of a scheduled loss).
- The log is created on the first write if ``export_base_log()`` was not called, every
  write is atomic, and the latest loss value stays queryable after the history has been
  written to the log.

Schedule values come from the JAX core (``interop.scheduling.schedules``), memoised per
(schedule, epoch), so a scheduled ``compute_loss_xy`` costs no more than an unscheduled
one after the first call of an epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
import copy
import os
from pathlib import Path
import time
from typing import Any
import warnings

import torch

from interop.config.config_manager import config_data
from nectargan_jax import LossLog
from nectargan_jax._checks import check_precision
from nectargan_jax.manager import reporting
from interop.losses.lm_data import LMHistory, LMLoss, check_loss_fields
from interop.losses.losses import Laplacian, Sobel, VGGPerceptual
from interop.scheduling.data import Schedule, is_default
from interop.scheduling.schedules import check_epoch, schedule_map
from interop.config.config_manager import read_setting

# Losses that compare x and y element by element (or image by image): torch broadcasts
# mismatched shapes with only a UserWarning, so compute_loss_xy requires equal shapes.
_ELEMENTWISE = (torch.nn.L1Loss, torch.nn.MSELoss, torch.nn.BCEWithLogitsLoss,
                torch.nn.BCELoss, torch.nn.SmoothL1Loss, torch.nn.HuberLoss, Sobel, Laplacian,
                VGGPerceptual)

Spec = Callable[..., dict[str, LMLoss]]


def _check_positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"LossManager: {what} must be a positive int, got "
                        f"{type(value).__name__}: {value!r}.")
    if value < 1:
        raise ValueError(f"LossManager: {what} must be a positive int, got {value!r}.")
    return value


class LossManager:
    """Registers loss functions, weights and records them, and writes their log.

    Args:
        config: the config; reads ``common.device``, ``dataloader.load.input_nc`` and
            ``.crop_size`` (for the zero ``(1, C, S, S)`` tensor every loss starts with as
            ``last_loss_map``) and ``dataloader.dataroot``. A ``ConfigManager``'s
            ``.data`` (what the reference passes), a ``ConfigManager``, a config dict or
            file (read by ``ConfigManager``), any object with those attributes, or None
            for the packaged default config (CPU, 3x256x256).
        experiment_dir: the folder of ``loss_log.json``; its name is the experiment.
        enable_logging: keep a history and write the log; without it each history holds
            only the latest call and the log methods warn and do nothing.
        history_buffer_size: the initial ``buffer_size``.

    Attributes:
        loss_fns: the registered losses, ``name -> LMLoss``.
        device: ``config.common.device``.
        buffer_size: a loss whose history holds this many values is written to the log
            (and its history cleared) before the next value is added; may be set at any
            time (the reference's toolbox does).
        loss_log: ``experiment_dir / 'loss_log.json'``, the log's path.

    Raises:
        ValueError: the config lacks a setting read, or ``input_nc``, ``crop_size`` or
            ``history_buffer_size`` is below 1.
        TypeError: ``input_nc``, ``crop_size`` or ``history_buffer_size`` is not an int.

    Examples:
        >>> import tempfile, torch
        >>> manager = LossManager(None, tempfile.mkdtemp())
        >>> manager.register_loss_fn('G_L1', torch.nn.L1Loss(), loss_weight=100.0, tags=['G'])
        >>> x, y = torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
        >>> manager.compute_loss_xy('G_L1', x, y, epoch=1).item()
        100.0
        >>> manager.print_losses(1, 10)
        (epoch: 1, iters: 10) Loss: G_L1: 100.0
    """

    def __init__(self, config: Any, experiment_dir: str | os.PathLike,
                 enable_logging: bool = True, history_buffer_size: int = 50000) -> None:
        if not isinstance(experiment_dir, (str, os.PathLike)):
            raise TypeError(f"LossManager: experiment_dir must be a path (str or os.PathLike), "
                            f"got {type(experiment_dir).__name__}: {experiment_dir!r}.")
        if not isinstance(enable_logging, bool):
            raise TypeError(f"LossManager: enable_logging must be a bool, got "
                            f"{type(enable_logging).__name__}: {enable_logging!r}.")
        _check_positive_int(history_buffer_size, "buffer_size (history_buffer_size)")
        self.config = config_data(config)
        self.device = read_setting(self.config, "common.device", "LossManager")
        channels, size = (
            _check_positive_int(read_setting(self.config, f"dataloader.load.{name}",
                                             "LossManager"), f"config.dataloader.load.{name}")
            for name in ("input_nc", "crop_size"))
        self.dummy = torch.zeros(1, channels, size, size, device=self.device)
        self.dataroot = read_setting(self.config, "dataloader.dataroot", "LossManager")
        self.experiment_dir = Path(experiment_dir)
        self._log = LossLog(self.experiment_dir, device=str(self.device),
                            dataroot=str(self.dataroot), compact_every_append=True)
        self.loss_log = self._log.path
        self.enable_logging = enable_logging
        self.buffer_size = history_buffer_size
        self.loss_fns: dict[str, LMLoss] = {}
        self._latest: dict[str, float] = {}

    @property
    def buffer_size(self) -> int:
        """The number of values a history holds before it is written to the log."""
        return self._buffer_size

    @buffer_size.setter
    def buffer_size(self, size: int) -> None:
        self._buffer_size = _check_positive_int(size, "buffer_size (history_buffer_size)")

    # Registration ------------------------------------------------------------------

    def _to_device(self, fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        return fn.to(self.device) if isinstance(fn, torch.nn.Module) else fn

    def register_loss_fn(self, loss_name: str, loss_fn: Callable[..., torch.Tensor],
                         loss_weight: float = 1.0, schedule: Schedule | None = None,
                         tags: Iterable[str] | None = None) -> None:
        """Registers ``loss_fn`` (moved to the device) under ``loss_name``.

        Args:
            loss_name: a new name.
            loss_fn: a callable ``(x, y) -> torch.Tensor``, usually an ``nn.Module``.
            loss_weight: the weight when unscheduled.
            schedule: a weight schedule; None gives the loss its own ``Schedule()``.
            tags: tags for the queries; copied into the loss's own list.

        Raises:
            ValueError: ``loss_name`` is already registered or empty, or ``loss_weight``
                is not finite.
            TypeError: ``loss_name`` is not a string, ``loss_fn`` is not callable,
                ``loss_weight`` is not a real number, ``schedule`` is not an interop
                ``Schedule`` (nor None), or ``tags`` is not a list of strings.
        """
        check_loss_fields("register_loss_fn", loss_name, loss_fn, loss_weight, schedule, tags,
                          labels=("loss_name", "loss_fn"))
        if loss_name in self.loss_fns:
            raise ValueError(
                f"Loss name {loss_name!r} is already registered; registered losses: "
                f"{list(self.loss_fns)}.")
        self.loss_fns[loss_name] = LMLoss(
            name=loss_name, function=self._to_device(loss_fn), loss_weight=loss_weight,
            schedule=Schedule() if schedule is None else schedule,
            last_loss_map=self.dummy, history=LMHistory(),
            tags=[] if tags is None else list(tags))

    def init_from_spec(self, spec: Spec | None, *args: Any, **kwargs: Any) -> None:
        """Replaces the registered losses with ``spec(*args, **kwargs)``.

        Each loss without a ``last_loss_map`` (an empty tensor, ``LMLoss``'s default)
        gets the manager's zero ``(1, C, S, S)`` tensor, as a registered loss does.

        Args:
            spec: a function returning ``dict[str, LMLoss]`` (such as ``pix2pix``), or
                None to remove every loss.
            *args: positional arguments for ``spec``.
            **kwargs: keyword arguments for ``spec``.

        Raises:
            RuntimeError: ``spec`` failed or returned something other than a dict of
                ``LMLoss`` (the cause is chained).
        """
        if spec is None:
            self.loss_fns, self._latest = {}, {}
            return
        try:
            losses = spec(*args, **kwargs)
            if not isinstance(losses, Mapping):
                raise TypeError(f"the spec returned {type(losses).__name__}, not a dict.")
            for name, loss in losses.items():
                if not isinstance(loss, LMLoss):
                    raise TypeError(
                        f"the spec's entry {name!r} is a {type(loss).__name__}, not an LMLoss.")
        except Exception as err:
            raise RuntimeError(
                f"Unable to initialize losses from spec "
                f"{getattr(spec, '__name__', spec)!r}: {err}") from err
        for loss in losses.values():
            loss.function = self._to_device(loss.function)
            if loss.last_loss_map.numel() == 0:
                loss.last_loss_map = self.dummy
        self.loss_fns, self._latest = dict(losses), {}

    # Computing ----------------------------------------------------------------------

    @staticmethod
    def _weight(schedule: Schedule, epoch: int, weight_kwargs: Mapping[str, Any]) -> float:
        if is_default(schedule):
            return schedule.current_value
        fn = schedule.schedule
        if isinstance(fn, str):
            try:
                fn = schedule_map[fn]
            except KeyError:
                raise KeyError(
                    f"Unknown schedule {fn!r}; valid names: {list(schedule_map)}, or a "
                    "callable (schedule, epoch, **kwargs) -> float.") from None
        elif not callable(fn):
            raise TypeError(
                f"Invalid schedule type: {type(fn).__name__} ({fn!r}); valid types are a "
                "name in schedule_map or a callable (schedule, epoch, **kwargs) -> float.")
        return fn(schedule, epoch, **weight_kwargs)

    def compute_loss_xy(self, loss_name: str, x: torch.Tensor, y: torch.Tensor,
                        epoch: int = 0,
                        loss_kwargs: Mapping[str, Any] | None = None) -> torch.Tensor:
        """Runs a registered loss on ``(x, y)``, weights it and records it.

        The weight is ``schedule.current_value``, recomputed at ``epoch`` first for a
        scheduled loss. The weighted tensor is returned (gradients flow); a detached CPU
        copy becomes ``last_loss_map``, and its mean and the weight are appended to the
        history (written to the log first if the history holds ``buffer_size``
        values).

        Args:
            loss_name: a registered name.
            x: the first argument of the loss function (e.g. the prediction).
            y: the second argument (e.g. the target).
            epoch: the epoch the schedule is evaluated at.
            loss_kwargs: ``{'weight_kwargs': {...}}`` passes options to the schedule
                function (e.g. ``epsilon`` for ``'exponential'``).

        Returns:
            The weighted loss.

        Raises:
            KeyError: ``loss_name`` is not registered (the message lists the names), or
                the schedule's name is not in ``schedule_map``.
            TypeError: ``x`` or ``y`` is not a tensor, ``loss_kwargs`` or its
                ``'weight_kwargs'`` is not a dict, the loss function returned something
                other than a tensor, or ``epoch`` is not a real number.
            ValueError: ``epoch`` is not finite, or ``x`` and ``y`` differ in shape for
                an elementwise loss (torch's L1, MSE, BCE, SmoothL1 and Huber losses,
                Sobel, Laplacian, VGGPerceptual).
            RuntimeError: the loss function raised one (the message names the loss and
                the shapes).
        """
        check_epoch("compute_loss_xy", epoch)
        if loss_kwargs is not None and not isinstance(loss_kwargs, Mapping):
            raise TypeError(
                "compute_loss_xy: loss_kwargs must be a dict such as {'weight_kwargs': "
                f"{{...}}}}, got {type(loss_kwargs).__name__}: {loss_kwargs!r}.")
        weight_kwargs = loss_kwargs.get("weight_kwargs", {}) if loss_kwargs else {}
        if not isinstance(weight_kwargs, Mapping):
            raise TypeError(
                "compute_loss_xy: loss_kwargs['weight_kwargs'] must be a dict of the schedule "
                f"function's options, got {type(weight_kwargs).__name__}: {weight_kwargs!r}.")
        try:
            entry = self.loss_fns[loss_name]
        except KeyError:
            raise KeyError(
                f"Unknown loss {loss_name!r}; registered losses: {list(self.loss_fns)}."
            ) from None
        loss = self._run(loss_name, entry.function, x, y)
        if not isinstance(loss, torch.Tensor):
            raise TypeError(f"compute_loss_xy: loss {loss_name!r} returned "
                            f"{type(loss).__name__}, not a torch.Tensor.")
        weight = self._weight(entry.schedule, epoch, weight_kwargs)
        weighted = loss * weight
        self._record(loss_name, entry, weighted, weight)
        return weighted

    @staticmethod
    def _run(name: str, function: Callable[..., Any], x: Any, y: Any) -> Any:
        """``function(x, y)`` on tensors; an elementwise loss needs equal shapes, and a
        plain RuntimeError of the function (e.g. shapes that do not broadcast) names
        the loss and the shapes."""
        for label, value in (("x", x), ("y", y)):
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"compute_loss_xy: {label} of loss {name!r} must be a "
                                f"torch.Tensor, got {type(value).__name__}.")
        shapes = f"x of shape {tuple(x.shape)} and y of shape {tuple(y.shape)}"
        if isinstance(function, _ELEMENTWISE) and x.shape != y.shape:
            raise ValueError(f"compute_loss_xy: loss {name!r} ({type(function).__name__}) "
                             f"compares x and y element by element, so they must have the "
                             f"same shape, got {shapes}.")
        try:
            return function(x, y)
        except RuntimeError as error:
            if type(error) is not RuntimeError:  # e.g. torch.OutOfMemoryError: as it is
                raise
            raise RuntimeError(f"compute_loss_xy: loss {name!r} failed on {shapes}: "
                               f"{error}") from error

    def compute_loss_xyz(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Not implemented, as in the reference (three-input losses).

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError(
            "LossManager.compute_loss_xyz is not implemented (nor is it in NectarGAN); use "
            "compute_loss_xy(loss_name, x, y, epoch, loss_kwargs).")

    def _record(self, name: str, entry: LMLoss, weighted: torch.Tensor, weight: float) -> None:
        """Stores the weight, map and value; a full history is written to the log first,
        so a failed write leaves the loss as it was."""
        detached = weighted.detach()
        loss_map = detached.clone() if detached.is_cpu else detached.cpu()
        value = loss_map.item() if loss_map.numel() == 1 else loss_map.mean().item()
        applied = float(weight)
        history = entry.history
        if not self.enable_logging:
            history.losses.clear()
            history.weights.clear()
        elif len(history.losses) >= self._buffer_size:
            self._write_histories([(name, entry)])
        entry.schedule.current_value = weight
        entry.last_loss_map = loss_map
        history.losses.append(value)
        history.weights.append(applied)
        self._latest[name] = value

    # Queries ------------------------------------------------------------------------

    def _select(self, query: Iterable[str] | None) -> dict[str, LMLoss]:
        if query is None:
            return dict(self.loss_fns)
        if not isinstance(query, (list, tuple, set, frozenset)) or not all(
                isinstance(tag, str) for tag in query):
            hint = f" (did you mean [{query!r}]?)" if isinstance(query, str) else ""
            raise TypeError(f"query must be None or a list of tags, got "
                            f"{type(query).__name__}: {query!r}{hint}.")
        wanted = set(query)
        return {n: e for n, e in self.loss_fns.items() if any(t in wanted for t in e.tags)}

    def get_registered_losses(self, query: list[str] | None = None,
                              strip: bool = True) -> dict[str, LMLoss]:
        """Shallow copies of the losses that have any tag in ``query``.

        Args:
            query: tags; None selects every loss, an empty list none.
            strip: give the copies empty histories (the originals keep theirs).

        Returns:
            ``name -> LMLoss`` copies.
        """
        selected = {n: copy.copy(e) for n, e in self._select(query).items()}
        if strip:
            for entry in selected.values():
                entry.history = LMHistory()
        return selected

    def _latest_value(self, name: str, entry: LMLoss) -> float:
        if entry.history.losses:
            return entry.history.losses[-1]
        if name in self._latest:
            return self._latest[name]
        raise IndexError(f"Loss {name!r} has no value yet: compute_loss_xy never ran it.")

    def get_loss_values(self, query: list[str] | None = None,
                        precision: int = 2) -> dict[str, float]:
        """The latest value of each selected loss, rounded to ``precision`` digits.

        Args:
            query: tags; None selects every loss, an empty list none.
            precision: digits after the decimal point.

        Returns:
            ``name -> value``.

        Raises:
            IndexError: a selected loss never ran.
        """
        check_precision(precision)
        return {n: round(self._latest_value(n, e), precision)
                for n, e in self._select(query).items()}

    def get_loss_tensors(self, query: list[str] | None = None) -> dict[str, torch.Tensor]:
        """The ``last_loss_map`` of each selected loss (tags as in ``get_loss_values``)."""
        return {n: e.last_loss_map for n, e in self._select(query).items()}

    def get_loss_weights(self, query: list[str] | None = None,
                         precision: int = 2) -> dict[str, float]:
        """Each selected loss's ``schedule.current_value``, rounded to ``precision``."""
        check_precision(precision)
        return {n: round(e.schedule.current_value, precision)
                for n, e in self._select(query).items()}

    # Console ------------------------------------------------------------------------

    def print_losses(self, epoch: int, iter: int, precision: int = 2,  # noqa: A002
                     capture: bool = False) -> str | None:
        """``"(epoch: {e}, iters: {i}) Loss: {name}: {value} ..."``, printed or returned.

        Args:
            epoch: the epoch shown.
            iter: the iteration shown.
            precision: digits of the values.
            capture: return the string instead of printing it.

        Returns:
            The string with ``capture``, else None.
        """
        return _emit(reporting.format_losses(
            epoch, iter, self.get_loss_values(precision=precision)), capture)

    def print_weights(self, precision: int = 2, capture: bool = False) -> str | None:
        """``"Loss weights: {name}: {weight} ..."``, printed or returned with ``capture``."""
        return _emit(reporting.format_weights(
            self.get_loss_weights(precision=precision)), capture)

    # Log ------------------------------------------------------------------------------

    def _logging_disabled(self, method: str) -> bool:
        if not self.enable_logging:
            warnings.warn(
                f"LossManager.{method}: logging is disabled (enable_logging=False); "
                "nothing was written.", UserWarning, stacklevel=3)
        return not self.enable_logging

    def export_base_log(self) -> None:
        """Writes a new ``loss_log.json`` with the run's facts and no loss values.

        ``{"LOSSMANAGER_LOG": {"device", "dataroot", "dataset_length" (entries in
        ``dataroot/train``, 0 if it does not exist), "experiment" (the experiment
        folder's name), "loss_functions": {}}}``, indent 4.
        """
        if self._logging_disabled("export_base_log"):
            return
        self._log.export_base_log()

    def _write_histories(self, entries: Iterable[tuple[str, LMLoss]]) -> None:
        """Appends the entries' histories to the log (atomically), then clears them."""
        entries = list(entries)
        self._log.append({name: (entry.history.losses, entry.history.weights)
                          for name, entry in entries})
        for _, entry in entries:
            entry.history.losses.clear()
            entry.history.weights.clear()

    def update_loss_log(self, silent: bool = True, capture: bool = False) -> str | None:
        """Appends every loss's buffered values to the log, then clears the buffers.

        Each loss gets ``loss_functions[name] = {"loss": [...], "weights": [...]}``
        (empty lists for a loss that never ran). The log is created if missing.

        Args:
            silent: say nothing.
            capture: with ``silent=False``, return the message instead of printing it.

        Returns:
            ``"LossManager: Logs updated. Time taken: {t:.3f} seconds"`` with
            ``silent=False`` and ``capture=True``, else None.
        """
        if self._logging_disabled("update_loss_log"):
            return None
        start = time.perf_counter()
        self._write_histories(self.loss_fns.items())
        if silent:
            return None
        elapsed = time.perf_counter() - start
        return _emit(f"LossManager: Logs updated. Time taken: {elapsed:.3f} seconds", capture)


def _emit(text: str, capture: bool) -> str | None:
    """The reference's console output: ``text`` returned when ``capture`` is set, else
    printed."""
    if capture:
        return text
    print(text)
    return None
