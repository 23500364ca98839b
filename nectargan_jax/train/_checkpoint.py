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
from typing import Any

import jax
import orbax.checkpoint as ocp

from nectargan_jax.train._config import TrainConfig, check_config

# Settings that do not change what training computes: where and how often things are
# written, how the run is named and which epoch it resumes from.
_NOT_FINGERPRINTED = (("common",), ("save",), ("visualizer",), ("train", "load"),
                      ("dataloader", "num_workers"))


def config_fingerprint(config: TrainConfig) -> str:
    """SHA-256 of the config settings that shape training (models, data, losses, rates):
    of its JSON (``TrainConfig.to_dict``) without the sections and keys that do not.

    Output folders, names, save cadences, the visualizer and ``train.load`` are left
    out, so a run resumes under another output folder, and with more epochs.

    Examples:
      >>> from nectargan_jax.train import load_config
      >>> a = load_config(overrides={'common.experiment_name': 'a'})
      >>> b = load_config(overrides={'common.experiment_name': 'b'})
      >>> config_fingerprint(a) == config_fingerprint(b)
      True
    """
    kept = check_config(config).to_dict()
    for path in _NOT_FINGERPRINTED:
        section = kept
        for key in path[:-1]:
            section = section.get(key, {})
        section.pop(path[-1], None)
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()


class CheckpointMismatchError(ValueError):
    """A checkpoint was written by a run with other training settings."""


class Checkpoints:
    """The checkpoints of one experiment (orbax ``CheckpointManager``, synchronous saves).

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

    def check(self, epoch: int, fingerprint: str) -> dict:
        """The metadata of ``epoch``'s checkpoint, if it was written with ``fingerprint``.

        Raises:
          CheckpointMismatchError: the checkpoint's config fingerprint differs.
        """
        meta = self.metadata(epoch)
        if meta.get("config_fingerprint") != fingerprint:
            raise CheckpointMismatchError(
                f"the checkpoint of epoch {epoch} in {str(self.directory)!r} was written "
                "with other training settings (config fingerprint "
                f"{meta.get('config_fingerprint')!r}, this config's is {fingerprint!r}); "
                "resume with the config saved in the experiment folder, or start a new "
                "experiment.")
        return meta

    def save(self, epoch: int, state: Any, fingerprint: str) -> None:
        """Saves ``state`` as the checkpoint of ``epoch`` (returns once it is complete),
        replacing one of that epoch (a run continued from an older checkpoint trains
        the epochs after it again)."""
        meta = {"epoch": int(epoch), "step": int(state.step),
                "config_fingerprint": fingerprint}
        manager = self._orbax()
        if int(epoch) in manager.all_steps():
            manager.delete(int(epoch))
        # force: orbax would skip a step older than its newest (a retrained epoch).
        manager.save(int(epoch), args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
        manager.wait_until_finished()

    def restore(self, epoch: int, like: Any, fingerprint: str) -> Any:
        """The state saved after ``epoch``, with the structure and shardings of ``like``.

        Raises:
          CheckpointMismatchError: the checkpoint's config fingerprint differs.
        """
        self.check(epoch, fingerprint)
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        return self._orbax().restore(epoch, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract))).state

    def close(self) -> None:
        """Releases orbax's resources."""
        if self._manager is not None:
            self._manager.close()
            self._manager = None
