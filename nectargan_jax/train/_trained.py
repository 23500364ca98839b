"""A trained experiment: its config and the models' weights of one epoch.

An experiment folder (``nectargan-jax train``'s, or the reference's) holds its config
as ``train<k>_config.json`` and the weights of epoch ``e`` in one of three forms,
looked for in this order:

- ``checkpoints/<e>/``: this project's orbax checkpoint of the whole run; only the
  models' parameters (and BatchNorm statistics) are read from it;
- ``epoch<e>_net<G|D>.msgpack``: the models' weights alone, as Flax's msgpack
  (``nectargan-jax convert --to jax`` writes them from the reference's files);
- ``epoch<e>_net<G|D>.pth.tar``: the reference's checkpoint files (torch needed).

The epoch is chosen as the reference's tester and ONNX converter choose it: the one
given, else the config's ``train.load.load_epoch``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
import re
from typing import Any

from flax import nnx, serialization
import jax
import numpy as np
import orbax.checkpoint as ocp

from nectargan_jax import _files as files
from nectargan_jax.models import load_torch_checkpoint, load_torch_state_dict
from nectargan_jax.train._config import TrainConfig, load_config
from nectargan_jax.train._step import initial_models

NETS = ("G", "D")
FORMS = ("orbax", "msgpack", "torch")
_WEIGHTS = nnx.Any(nnx.Param, nnx.BatchStat)  # what a weights file holds
_ORBAX_KEYS = {"G": ("gen_params", "gen_rest"), "D": ("disc_params", "disc_rest")}


@dataclasses.dataclass(frozen=True)
class TrainedModels:
    """The models of one epoch of an experiment, in eval mode.

    Attributes:
      experiment: the experiment folder.
      config: the config the models were built from.
      config_path: the config file read.
      epoch: the epoch whose weights were loaded.
      sources: where each net's weights came from (``{'G': path, ...}``).
      models: ``{'G': UnetGenerator, 'D': PatchGANDiscriminator}``, the nets asked for.
    """

    experiment: Path
    config: TrainConfig
    config_path: Path
    epoch: int
    sources: dict[str, Path]
    models: dict[str, nnx.Module]

    @property
    def generator(self) -> nnx.Module:
        return self.models["G"]


def experiment_config(experiment: str | os.PathLike, config_file: str | os.PathLike | None = None,
                      overrides: dict[str, Any] | None = None) -> tuple[TrainConfig, Path]:
    """The config of an experiment: ``config_file`` if given, else the newest
    ``train<k>_config.json`` in the folder (largest ``k``), validated.

    Raises:
      FileNotFoundError: no such folder, or no config in it (and none given).
      ValueError: an invalid config (see ``load_config``).
    """
    folder = Path(experiment)
    if not folder.is_dir():
        raise FileNotFoundError(f"no experiment folder at {str(folder)!r}.")
    if config_file is None:
        found = [(int(m.group(1)), p) for p in folder.glob("train*_config.json")
                 if (m := re.fullmatch(r"train(\d*)_config\.json", p.name))
                 and m.group(1)]
        if not found:
            raise FileNotFoundError(
                f"no config (train<k>_config.json) in the experiment folder {str(folder)!r}; "
                "give one with --config.")
        config_file = max(found)[1]
    return load_config(config_file, overrides), Path(config_file)


def weight_epochs(experiment: str | os.PathLike, net: str = "G",
                  forms: tuple[str, ...] = FORMS) -> dict[int, Path]:
    """Epochs of ``experiment`` with weights of ``net`` (``'G'`` or ``'D'``) in one of
    ``forms``, each with the first source found in ``FORMS``' order, oldest epoch first."""
    folder = Path(experiment)
    found: dict[int, Path] = {}
    checkpoints = folder / "checkpoints"
    if "orbax" in forms and checkpoints.is_dir():
        found.update((int(p.name), p) for p in checkpoints.iterdir()
                     if p.is_dir() and p.name.isdigit())
    for form, suffix in (("msgpack", ".msgpack"), ("torch", ".pth.tar")):
        pattern = re.compile(rf"epoch(\d+)_net{net}{re.escape(suffix)}")
        for path in folder.glob(f"epoch*_net{net}{suffix}") if form in forms else ():
            if (m := pattern.fullmatch(path.name)) and int(m.group(1)) not in found:
                found[int(m.group(1))] = path
    return dict(sorted(found.items()))


def load_trained(experiment: str | os.PathLike, *, load_epoch: int | None = None,
                 nets: tuple[str, ...] = ("G",), config_file: str | os.PathLike | None = None,
                 overrides: dict[str, Any] | None = None, forms: tuple[str, ...] = FORMS,
                 seed: int = 0) -> TrainedModels:
    """The models of ``experiment`` with the weights of one epoch, in eval mode.

    Args:
      experiment: the experiment folder.
      load_epoch: the epoch; None = the config's ``train.load.load_epoch``.
      nets: which models, ``'G'`` and/or ``'D'``.
      config_file: the config to build the models from (default: the folder's newest).
      overrides: laid over the config (``load_config``).
      forms: the forms of weights to look for (``FORMS``).
      seed: seeds the models' initialisation (all replaced) and the dropout stream
        (unused in eval mode).

    Raises:
      FileNotFoundError: no folder or config, or no weights of that epoch (the message
        lists the epochs there are).
      ValueError: weights that do not fit the config's models, or a bad epoch.
      ImportError: reference files to read and no torch.
    """
    config, config_path = experiment_config(experiment, config_file, overrides)
    folder = Path(experiment)
    epoch = config.train.load.load_epoch if load_epoch is None else load_epoch
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"load_epoch must be an int >= 0, got {epoch!r}.")
    sources = {}
    for net in nets:
        if net not in NETS:
            raise ValueError(f"nets must be among {NETS}, got {net!r}.")
        available = weight_epochs(folder, net, forms)
        if epoch not in available:
            raise FileNotFoundError(
                f"no weights of epoch {epoch} (load_epoch) for net {net} in {str(folder)!r} "
                f"(looked for {', '.join(forms)}); epochs there: {list(available) or 'none'}.")
        sources[net] = available[epoch]
    models = dict(zip(NETS, initial_models(config, seed)))
    for net, source in sources.items():
        _load(models[net], source, net, epoch)
        models[net].eval()
    return TrainedModels(folder, config, config_path, epoch, sources,
                         {net: models[net] for net in nets})


def save_weights(model: nnx.Module, path: str | os.PathLike) -> Path:
    """Writes a model's parameters (and BatchNorm statistics) as Flax msgpack (to a
    temporary file beside ``path``, renamed over it)."""
    data = serialization.msgpack_serialize(nnx.to_pure_dict(nnx.state(model, _WEIGHTS)))
    return files.write_bytes_atomic(Path(path), data)


def _load(model: nnx.Module, source: Path, net: str, epoch: int) -> None:
    """Sets ``model``'s weights from ``source`` (one of the three forms)."""
    what = f"the weights of net {net}, epoch {epoch}, in {str(source)!r}"
    if source.is_dir():
        _load_orbax(model, source, net, what)
    elif source.name.endswith(".msgpack"):
        _load_msgpack(model, source, what)
    else:
        try:
            load_torch_state_dict(model, load_torch_checkpoint(source))
        except ValueError as error:
            raise ValueError(f"{what} do not fit the config's model: {error}") from None


def _load_orbax(model: nnx.Module, step_dir: Path, net: str, what: str) -> None:
    params_key, rest_key = _ORBAX_KEYS[net]
    # The training state holds each model's state as plain nested dicts.
    states = {params_key: nnx.state(model, nnx.Param)}
    stats = nnx.state(model, nnx.BatchStat)
    if jax.tree.leaves(stats):
        states[rest_key] = stats
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct,
                          {key: nnx.to_pure_dict(state) for key, state in states.items()})
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    restore = ocp.args.PyTreeRestore(
        item=target, restore_args=jax.tree.map(lambda _: ocp.ArrayRestoreArgs(sharding=device),
                                               target),
        partial_restore=True)
    manager = ocp.CheckpointManager(step_dir.parent,
                                    options=ocp.CheckpointManagerOptions(create=False))
    try:
        restored = manager.restore(int(step_dir.name),
                                   args=ocp.args.Composite(state=restore)).state
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{what} do not fit the config's model (was it trained with "
                         f"another config?): {error}") from None
    finally:
        manager.close()
    for key, state in states.items():
        nnx.replace_by_pure_dict(state, restored[key])
        nnx.update(model, state)


def _load_msgpack(model: nnx.Module, path: Path, what: str) -> None:
    try:
        given = serialization.msgpack_restore(path.read_bytes())
    except Exception as error:  # msgpack raises several types for a damaged file
        raise ValueError(f"{what} cannot be read as Flax msgpack: {error}") from None
    state = nnx.state(model, _WEIGHTS)
    expected = _shapes(nnx.to_pure_dict(state))
    found = _shapes(given) if isinstance(given, dict) else {}
    differ = sorted(set(expected.items()) ^ set(found.items()))
    if differ:
        listed = ", ".join(f"{'/'.join(map(str, path))}: {shape}" for path, shape in differ[:5])
        raise ValueError(f"{what} do not fit the config's model (was it saved from another "
                         f"config?); names or shapes that differ: {listed}"
                         f"{', ...' if len(differ) > 5 else ''}.")
    nnx.replace_by_pure_dict(state, given)
    nnx.update(model, state)


def _shapes(tree: dict, prefix: tuple = ()) -> dict[tuple, tuple]:
    """``{path: shape}`` of the arrays of a nested dict (keys as strings)."""
    out = {}
    for key, value in tree.items():
        path = prefix + (str(key),)
        if isinstance(value, dict):
            out.update(_shapes(value, path))
        else:
            out[path] = tuple(np.shape(value))
    return out
