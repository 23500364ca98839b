"""Where a run's numbers and pictures go live, besides the loss log: TensorBoard, Visdom.

A writer takes the records the loss log gets at each flush
(``write_records(first_step, records)``, ``records`` as ``LossManager.drain`` returns
them, the record ``i`` of each loss made at step ``first_step + i``), the example grid at
the end of an epoch (``write_examples(epoch, step, grid)``, HWC uint8) and ``close()``.

- ``TensorBoardWriter``: event files in a folder (``--tensorboard DIR`` or the config's
  ``visualizer.tensorboard``, an extension): per step ``loss/<name>`` and
  ``weight/<name>``, per flush ``learning_rate/generator`` and
  ``learning_rate/discriminator``, per example epoch the ``examples`` image. Needs
  ``tensorboardX`` (the ``train`` extra).
- ``VisdomWriter``: the reference's Visdom view (``visualizer.visdom``): its 'loss_G'
  and 'loss_D' line windows, a point every ``update_frequency`` steps at x = epoch (from
  1) + step fraction, and its 'comparison_grid' image window (here the epoch's example
  grid: the compiled step keeps no training-batch output). Needs ``visdom``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import importlib
import os
from pathlib import Path
import time
from typing import Any, Protocol

import numpy as np

from nectargan_jax.train._config import VisdomConfig

Records = Mapping[str, tuple[np.ndarray, np.ndarray]]
GRID_TITLE = "real_A | fake_B | real_B"


class RunWriter(Protocol):
    """What ``train`` writes to live."""

    def write_records(self, first_step: int, records: Records) -> None: ...

    def write_examples(self, epoch: int, step: int, grid: np.ndarray) -> None: ...

    def close(self) -> None: ...


class TensorBoardWriter:
    """TensorBoard event files: losses, weights, learning rates and example grids.

    The folder and its event file are made at the first write, so building the writer
    (which checks that ``tensorboardX`` is there) writes nothing.

    Args:
      log_dir: the folder (created if missing).
      learning_rates: step -> ``{'generator': lr, 'discriminator': lr}`` at that step.

    Raises:
      ValueError: ``tensorboardX`` is not installed (the message says how to install it).
    """

    def __init__(self, log_dir: str | os.PathLike,
                 learning_rates: Callable[[int], Mapping[str, float]]):
        self._summary = _import("tensorboardX.proto.summary_pb2", "tensorboardX",
                                "--tensorboard / visualizer.tensorboard",
                                "nectargan_jax[train]")
        self.log_dir, self.learning_rates = Path(log_dir), learning_rates
        self._writer = None

    @property
    def writer(self) -> Any:
        """The ``tensorboardX.SummaryWriter``, made on first use."""
        if self._writer is None:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.log_dir))
        return self._writer

    def _write(self, step: int, values: Mapping[str, float]) -> None:
        summary = self._summary.Summary(value=[
            self._summary.Summary.Value(tag=tag, simple_value=float(value))
            for tag, value in values.items()])
        self.writer.file_writer.add_summary(summary, step, time.time())

    def write_records(self, first_step: int, records: Records) -> None:
        """One event per step with every loss and its weight; then the learning rates."""
        count = _count(records)
        for i in range(count):
            values = {}
            for name, (losses, weights) in records.items():
                values[f"loss/{name}"] = losses[i]
                values[f"weight/{name}"] = weights[i]
            self._write(first_step + i, values)
        if not count:
            return
        last = first_step + count - 1
        self._write(last, {f"learning_rate/{which}": lr
                           for which, lr in self.learning_rates(last).items()})
        self.writer.flush()

    def write_examples(self, epoch: int, step: int, grid: np.ndarray) -> None:
        """The example grid (input | output | target rows) as the ``examples`` image."""
        self.writer.add_image("examples", grid, step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class VisdomWriter:
    """The reference's Visdom windows, fed at each flush and each example epoch.

    Args:
      settings: the config's ``visualizer.visdom`` (``enable`` true).
      steps_per_epoch: steps in one epoch (for the x axis).

    Raises:
      ValueError: ``visdom`` is not installed (the message names
        ``visualizer.visdom.enable``).
      ConnectionError: no Visdom server answers at ``server:port``.
    """

    def __init__(self, settings: VisdomConfig, steps_per_epoch: int):
        visdom = _import("visdom", "visdom", "visualizer.visdom.enable", "visdom")
        self.settings, self.steps_per_epoch = settings, steps_per_epoch
        self.vis = visdom.Visdom(server=settings.server, port=settings.port,
                                 env=settings.env_name)
        if not self.vis.check_connection():
            raise ConnectionError(
                f"visualizer.visdom.enable is true but no Visdom server answers at "
                f"{settings.server}:{settings.port} (visualizer.visdom.server, .port); "
                "start one (python -m visdom.server) or set visualizer.visdom.enable false.")
        self.vis.close(win=None, env=settings.env_name)

    def write_records(self, first_step: int, records: Records) -> None:
        """Appends every ``update_frequency``-th step's losses to 'loss_G' and 'loss_D'."""
        count = _count(records)
        every = self.settings.update_frequency
        shown = [i for i in range(count) if (first_step + i) % every == 0]
        if not shown:
            return
        x = np.asarray([1 + (first_step + i) / self.steps_per_epoch for i in shown])
        for window, title, tag in (("loss_G", "Generator Loss", "G"),
                                   ("loss_D", "Discriminator Loss", "D")):
            names = [name for name in records if name.split("_", 1)[0] == tag]
            if not names:
                continue
            y = np.stack([np.asarray(records[name][0])[shown] for name in names], axis=1)
            self.vis.line(Y=y, X=np.repeat(x[:, None], len(names), axis=1), win=window,
                          update="append", opts=dict(title=title, xlabel="Iterations",
                                                     ylabel="Loss", legend=names))

    def write_examples(self, epoch: int, step: int, grid: np.ndarray) -> None:
        """The example grid in the 'comparison_grid' window, scaled to ``image_size``."""
        size = self.settings.image_size
        self.vis.images(np.transpose(grid, (2, 0, 1))[None] / 255.0, win="comparison_grid",
                        nrow=1, padding=2,
                        opts=dict(title=GRID_TITLE, width=size * 3, height=size))

    def close(self) -> None:
        """Nothing to release (Visdom's client holds no open resource)."""


class EpochMeans:
    """A sink averaging each loss over the records it got since the last ``take()``."""

    def __init__(self):
        self._sums: dict[str, float] = {}
        self._count = 0

    def write_records(self, first_step: int, records: Records) -> None:
        for name, (losses, _) in records.items():
            self._sums[name] = self._sums.get(name, 0.0) + float(np.sum(losses))
        self._count += _count(records)

    def take(self) -> dict[str, float]:
        """``{name: mean}`` of the records since the last call (empty if none); resets."""
        means = {name: total / self._count for name, total in self._sums.items()} \
            if self._count else {}
        self._sums, self._count = {}, 0
        return means


def _count(records: Records) -> int:
    """Records per loss."""
    return len(next(iter(records.values()))[0]) if records else 0


def _import(module: str, package: str, key: str, install: str) -> Any:
    """``module``, or a ValueError naming the setting that needs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        raise ValueError(f"{key} needs the {package!r} package, which is not installed: "
                         f"pip install '{install}'.") from None
