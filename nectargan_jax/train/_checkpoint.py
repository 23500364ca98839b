"""Checkpoints of a pix2pix run with orbax: the whole ``TrainState`` and what made it.

A checkpoint, saved after epoch ``e`` under ``<experiment>/checkpoints/<e>/``, holds the
``TrainState`` (parameters, batch statistics, RNG state, optimizer states, the
``LossManager`` with its schedules and records, step and epoch) as a pytree of arrays,
and a small JSON item with the epoch, the step and the fingerprint of the config
settings that shape training. orbax writes each checkpoint into a temporary folder and
renames it when complete, so a run killed during a save keeps its previous checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
import shutil
import time
from typing import Any

import jax
import orbax.checkpoint as ocp

from nectargan_jax.train._config import TrainConfig, check_config
from nectargan_jax.train._disk_full import disk_full_errno, quiet_disk_full_reports

# Settings that do not change what training computes: where and how often things are
# written, how the run is named, which epoch it resumes from and where the data lies; how
# the models convolve (the same numbers either way, so a run may resume on another backend).
_NOT_FINGERPRINTED = (("common",), ("save",), ("visualizer",), ("train", "load"),
                      ("dataloader", "num_workers"), ("dataloader", "dataroot"),
                      ("train", "generator", "conv_impl"))
_SHOWN_CHANGES = 6
# A failed save's temporary folder is removed again until it has stayed gone this long:
# tensorstore's writes that orbax abandoned still land for a moment and recreate it.
_QUIET_S = 0.5
_REMOVAL_LIMIT_S = 30.0


def training_settings(config: TrainConfig) -> dict:
    """The config settings that shape training (models, data, losses, rates), as JSON
    (``TrainConfig.to_dict``) without output folders, names, save cadences, the
    visualizer, ``train.load``, the data's location (``dataloader.dataroot``) and the
    convolution forms (``train.generator.conv_impl``), so a run resumes under another
    output folder, with more epochs, with its dataset moved, or on another backend."""
    kept = check_config(config).to_dict()
    for path in _NOT_FINGERPRINTED:
        section = kept
        for key in path[:-1]:
            section = section.get(key, {})
        section.pop(path[-1], None)
    return kept


def config_fingerprint(config: TrainConfig) -> str:
    """SHA-256 of ``training_settings(config)``.

    Examples:
      >>> from nectargan_jax.train import load_config
      >>> a = load_config(overrides={'common.experiment_name': 'a'})
      >>> b = load_config(overrides={'common.experiment_name': 'b'})
      >>> config_fingerprint(a) == config_fingerprint(b)
      True
    """
    return hashlib.sha256(json.dumps(training_settings(config), sort_keys=True).encode()
                          ).hexdigest()


def _changes(before: Any, after: Any, path: str = "") -> list[str]:
    """``'key.path (old, now new)'`` for each setting that differs, in key order."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [change for key in sorted(set(before) | set(after))
                for change in _changes(before.get(key, "absent"), after.get(key, "absent"),
                                       f"{path}.{key}" if path else key)]
    return [] if before == after else [f"{path} ({before!r}, now {after!r})"]


class CheckpointMismatchError(ValueError):
    """A checkpoint was written by a run with other training settings."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written for lack of space (or a file-size limit); the
    earlier checkpoints are intact and nothing of the failed one is left behind.

    ``errno`` is the system's code (``ENOSPC``, ``EFBIG``, ``EDQUOT``); ``str()`` is the
    one-line message alone."""

    def __str__(self) -> str:
        return str(self.strerror)


class Checkpoints:
    """The checkpoints of one experiment (orbax ``CheckpointManager``, synchronous saves).

    In a multi-process run every process saves and restores together (orbax's
    multi-host checkpointing; process 0 writes the metadata), and a checkpoint resumes
    with the number of processes that saved it.

    Args:
      directory: the checkpoint folder (created at the first save).
      max_to_keep: keep only the newest checkpoints (None keeps all).
    """

    def __init__(self, directory: str | os.PathLike, max_to_keep: int | None = None):
        self.directory = Path(directory).absolute()
        self._options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=False, enable_async_checkpointing=False)
        self._manager: ocp.CheckpointManager | None = None

    def _orbax(self) -> ocp.CheckpointManager:
        if self._manager is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._manager = ocp.CheckpointManager(self.directory, options=self._options)
        return self._manager

    def epochs(self) -> list[int]:
        """Epochs with a complete checkpoint, oldest first (none if the folder is missing)."""
        if not self.directory.is_dir():
            return []
        return sorted(self._orbax().all_steps())

    def latest_epoch(self) -> int | None:
        """The newest checkpoint's epoch, or None."""
        epochs = self.epochs()
        return epochs[-1] if epochs else None

    def size(self, epoch: int) -> int:
        """Bytes on disk of the checkpoint of ``epoch``."""
        folder = self.directory / str(int(epoch))
        return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())

    def metadata(self, epoch: int) -> dict:
        """The JSON item of the checkpoint of ``epoch`` (epoch, step, config fingerprint)."""
        return self._orbax().restore(
            epoch, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta

    def check(self, epoch: int, fingerprint: str, settings: dict | None = None) -> dict:
        """The metadata of ``epoch``'s checkpoint, if it was written with ``fingerprint``.

        Args:
          epoch: the checkpoint's epoch.
          fingerprint: ``config_fingerprint`` of the config resuming.
          settings: its ``training_settings``; with those the checkpoint was saved with,
            a mismatch names the settings that changed (else, or when none differs by
            value, as ``0`` and ``0.0`` do not, the two fingerprints).

        Raises:
          CheckpointMismatchError: the checkpoint's config fingerprint differs, or it
            was saved by another number of processes (``jax.process_count()``).
        """
        meta = self.metadata(epoch)
        saved_by, processes = meta.get("processes", 1), jax.process_count()
        if saved_by != processes:
            raise CheckpointMismatchError(
                f"the checkpoint of epoch {epoch} in {str(self.directory)!r} was saved by "
                f"{saved_by} processes but this run has {processes}; resume it with "
                f"--num-processes {saved_by} (each with the same --devices).")
        if meta.get("config_fingerprint") != fingerprint:
            changes = ([] if settings is None or "settings" not in meta
                       else _changes(meta["settings"], settings))
            if changes:
                more = len(changes) - _SHOWN_CHANGES
                what = ": " + ", ".join(changes[:_SHOWN_CHANGES]) + (
                    f" and {more} more" if more > 0 else "")
            else:
                what = (f" (config fingerprint {meta.get('config_fingerprint')!r}, this "
                        f"config's is {fingerprint!r})")
            raise CheckpointMismatchError(
                f"the checkpoint of epoch {epoch} in {str(self.directory)!r} was written "
                f"with other training settings{what}; resume with the config saved in the "
                "experiment folder, or start a new experiment.")
        return meta

    def save(self, epoch: int, state: Any, fingerprint: str,
             settings: dict | None = None) -> None:
        """Saves ``state`` as the checkpoint of ``epoch`` (returns once it is complete),
        replacing one of that epoch (a run continued from an older checkpoint trains
        the epochs after it again). ``settings`` (``training_settings``), if given, is
        kept in the metadata so that a mismatch can name what changed (``check``).

        Raises:
          CheckpointWriteError: the disk is full (or a file-size limit was hit): one
            line naming the checkpoint; its partial files are removed. The training
            loop flushes its log before each save, so a run resumed then loses nothing.
        """
        meta = {"epoch": int(epoch), "step": int(state.step),
                "config_fingerprint": fingerprint, "processes": jax.process_count()}
        if settings is not None:
            meta["settings"] = settings
        manager = self._orbax()
        if int(epoch) in manager.all_steps():
            manager.delete(int(epoch))
        try:
            with quiet_disk_full_reports():
                # force: orbax would skip a step older than its newest (a retrained epoch).
                manager.save(int(epoch), args=ocp.args.Composite(
                    state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                    force=True)
                manager.wait_until_finished()
        except Exception as error:
            code = disk_full_errno(error)
            if code is None:
                raise
            self.close()
            self._remove_partial(int(epoch))
            raise CheckpointWriteError(
                code, f"disk full (or file too large) writing checkpoint {int(epoch)} to "
                f"{self.directory / str(int(epoch))}; nothing lost, resume with --resume"
            ) from None

    def _remove_partial(self, epoch: int) -> None:
        """Removes the temporary folders of a failed save of ``epoch``. The writes orbax
        abandoned when the first one failed run on in tensorstore's threads, which nothing
        can wait for, and a late one recreates the folder: removal repeats until no
        folder has reappeared for ``_QUIET_S`` (at most ``_REMOVAL_LIMIT_S``)."""
        pattern = f"{epoch}.orbax-checkpoint-tmp*"
        deadline = time.monotonic() + _REMOVAL_LIMIT_S
        while True:
            for partial in self.directory.glob(pattern):
                shutil.rmtree(partial, ignore_errors=True)
            time.sleep(_QUIET_S)
            if not any(self.directory.glob(pattern)) or time.monotonic() > deadline:
                return

    def restore(self, epoch: int, like: Any, fingerprint: str,
                settings: dict | None = None) -> Any:
        """The state saved after ``epoch``, with the structure and shardings of ``like``.

        Raises:
          CheckpointMismatchError: the checkpoint's config fingerprint differs (see
            ``check``).
        """
        self.check(epoch, fingerprint, settings)
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        return self._orbax().restore(epoch, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract))).state

    def close(self) -> None:
        """Releases orbax's resources."""
        if self._manager is not None:
            self._manager.close()
            self._manager = None
