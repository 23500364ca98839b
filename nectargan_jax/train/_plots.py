"""Pictures of a run: loss curves from a ``loss_log.json``, schedule curves, example rows.

Charts are drawn on plain ``matplotlib.figure.Figure`` objects (rendered by Agg, no
display needed, pyplot's global state and backend untouched); images with Pillow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import os
from pathlib import Path

from matplotlib.figure import Figure
import numpy as np
from PIL import Image

from nectargan_jax.log import DamagedLogError, read_records
from nectargan_jax.scheduling import BaseSchedule


def loss_groups(names: Sequence[str]) -> dict[str, list[str]]:
    """Loss names grouped by tag, read off the name's prefix (``G_L1`` -> ``G``).

    Names without a ``_`` form their own group. Groups and names keep their order.

    Examples:
      >>> loss_groups(['G_GAN', 'G_L1', 'D_real', 'D_fake', 'total'])
      {'G': ['G_GAN', 'G_L1'], 'D': ['D_real', 'D_fake'], 'total': ['total']}
    """
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.split("_", 1)[0], []).append(name)
    return groups


def read_loss_log(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{name: (losses, weights)}`` from a loss log file (journal included).

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ValueError: the file is not a loss log.
    """
    try:
        return read_records(path)
    except DamagedLogError as error:
        raise ValueError(f"{str(path)!r} is not a loss log: {error.problem}.") from error


def plot_loss_log(log_path: str | os.PathLike, out_path: str | os.PathLike,
                  steps_per_epoch: int | None = None) -> Path:
    """Draws each loss and the weight applied to it over the run, one row per tag.

    Args:
      log_path: a ``loss_log.json``.
      out_path: the PNG to write (its folder must exist).
      steps_per_epoch: if given, the x axis is in epochs instead of records.

    Returns:
      ``out_path`` as a ``Path``.

    Raises:
      FileNotFoundError: no log at ``log_path``.
      ValueError: the file is not a loss log, or holds no loss; ``steps_per_epoch``
        is not a positive int.
    """
    if steps_per_epoch is not None and (isinstance(steps_per_epoch, bool) or not isinstance(
            steps_per_epoch, int) or steps_per_epoch < 1):
        raise ValueError(f"steps_per_epoch must be a positive int (or None: the x axis in "
                         f"records), got steps_per_epoch={steps_per_epoch!r}.")
    functions = read_loss_log(log_path)
    if not functions:
        raise ValueError(f"the loss log {str(log_path)!r} holds no loss.")
    groups = loss_groups(list(functions))
    fig = Figure(figsize=(11, 3.2 * len(groups)))
    axes = fig.subplots(len(groups), 2, squeeze=False)
    scale = 1.0 / steps_per_epoch if steps_per_epoch else 1.0
    xlabel = "epoch" if steps_per_epoch else "record"
    for (tag, names), (ax_loss, ax_weight) in zip(groups.items(), axes):
        for name in names:
            losses, weights = functions[name]
            x = np.arange(len(losses)) * scale
            ax_loss.plot(x, losses, label=name, linewidth=0.8)
            ax_weight.plot(x, weights, label=name, linewidth=1.2)
        ax_loss.set_title(f"{tag}: weighted losses")
        ax_weight.set_title(f"{tag}: weights applied")
        for ax in (ax_loss, ax_weight):
            ax.set_xlabel(xlabel)
            ax.legend(loc="upper right", fontsize="small")
            ax.grid(alpha=0.3)
    fig.tight_layout()
    out_path = Path(out_path)
    fig.savefig(out_path, dpi=80)
    return out_path


def plot_schedules(schedules: Mapping[str, BaseSchedule], epochs: int,
                   out_path: str | os.PathLike) -> Path:
    """Draws each schedule's value at epochs ``0 .. epochs`` on one chart.

    Args:
      schedules: ``{label: schedule}``.
      epochs: the last epoch drawn (a positive int).
      out_path: the PNG to write (its folder must exist).

    Returns:
      ``out_path`` as a ``Path``.

    Raises:
      ValueError: ``epochs`` < 1 or no schedule.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs=!r}.")
    if not schedules:
        raise ValueError("schedules is empty: give at least one schedule to draw.")
    x = np.arange(epochs + 1)
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    for label, schedule in schedules.items():
        ax.plot(x, np.asarray(schedule(x)), label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("value")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    out_path = Path(out_path)
    fig.savefig(out_path, dpi=80)
    return out_path


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in ``[-1, 1]`` (any shape) as ``uint8`` in ``[0, 255]``, clipped.

    Examples:
      >>> to_uint8(np.array([-1.0, 0.0, 1.0, 2.0])).tolist()
      [0, 128, 255, 255]
    """
    return np.round((np.clip(images, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def save_example_grid(inputs: np.ndarray, outputs: np.ndarray, targets: np.ndarray,
                      out_path: str | os.PathLike) -> Path:
    """Writes one row per example, ``input | output | target``, as a PNG.

    Args:
      inputs, outputs, targets: NHWC images in ``[-1, 1]`` with the same N, H and W;
        1-channel images are drawn in grey, others as their first three channels.
      out_path: the PNG to write.

    Returns:
      ``out_path`` as a ``Path``.

    Raises:
      ValueError: the batches are not NHWC or their N, H, W differ.
    """
    out_path = Path(out_path)
    Image.fromarray(example_grid(inputs, outputs, targets)).save(out_path)
    return out_path


def example_grid(inputs: np.ndarray, outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The picture ``save_example_grid`` writes, as an HW3 ``uint8`` array.

    Raises:
      ValueError: the batches are not NHWC or their N, H, W differ.
    """
    arrays = [np.asarray(a) for a in (inputs, outputs, targets)]
    for name, a in zip(("inputs", "outputs", "targets"), arrays):
        if a.ndim != 4:
            raise ValueError(f"{name} must be NHWC images, got {name}.shape={a.shape}.")
    if len({a.shape[:3] for a in arrays}) != 1:
        raise ValueError("inputs, outputs and targets must share N, H and W, got shapes "
                         f"{[a.shape for a in arrays]}.")
    rgb = [_as_rgb(a) for a in arrays]
    rows = [np.concatenate([r[i] for r in rgb], axis=1) for i in range(arrays[0].shape[0])]
    return to_uint8(np.concatenate(rows, axis=0))


def _as_rgb(images: np.ndarray) -> np.ndarray:
    channels = images.shape[-1]
    if channels == 1:
        return np.repeat(images, 3, axis=-1)
    if channels == 2:
        return np.concatenate([images, np.full_like(images[..., :1], -1.0)], axis=-1)
    return images[..., :3]
