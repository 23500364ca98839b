"""``nectargan-jax convert``: an experiment's weights between this project and the reference.

``to='torch'`` reads the weights of one epoch of this project's experiment (its orbax
checkpoint, or msgpack weights) and writes the reference's checkpoint files
``epoch<e>_netG.pth.tar`` and ``epoch<e>_netD.pth.tar``, which the reference's tester,
ONNX converter and trainer (``continue_train``) load. ``to='jax'`` reads the reference's
files of one epoch and writes ``epoch<e>_net<G|D>.msgpack``, which ``nectargan-jax test``
and ``export`` read without torch. Everything is read and checked before anything is
written; a folder other than the experiment's also gets the config
(``train<k>_config.json``), so that either side finds it there.
"""

from __future__ import annotations

import os
from pathlib import Path

from nectargan_jax.models import checkpoint_name, save_torch_checkpoint, torch_state_dict
from nectargan_jax.train._experiment import Experiment
from nectargan_jax.train._trained import load_trained, save_weights

DIRECTIONS = ("torch", "jax")


def convert_experiment(experiment: str | os.PathLike, *, to: str,
                       load_epoch: int | None = None,
                       config_file: str | os.PathLike | None = None,
                       output: str | os.PathLike | None = None) -> list[Path]:
    """Converts the generator's and discriminator's weights of one epoch.

    Args:
      experiment: the experiment folder to read.
      to: ``'torch'`` (this project's weights -> the reference's files) or ``'jax'``
        (the reference's files -> msgpack weights).
      load_epoch: the epoch; None = the config's ``train.load.load_epoch``.
      config_file: the config the models are built from (default: the folder's newest).
      output: the folder to write to (default: ``experiment``).

    Returns:
      The files written.

    Raises:
      ValueError: another ``to``, or weights that do not fit the config's models.
      FileNotFoundError: no folder, config or weights of that epoch.
      ImportError: torch is not installed.
    """
    if to not in DIRECTIONS:
        raise ValueError(f"to must be one of {DIRECTIONS}, got {to!r}.")
    forms = ("orbax", "msgpack") if to == "torch" else ("torch",)
    trained = load_trained(experiment, load_epoch=load_epoch, nets=("G", "D"),
                           config_file=config_file, forms=forms)
    if to == "torch":
        weights = {net: torch_state_dict(model) for net, model in trained.models.items()}
    out = Path(experiment if output is None else output)
    written = []
    if out.resolve() != trained.experiment.resolve() and not list(
            out.glob("train*_config.json")):
        out.mkdir(parents=True, exist_ok=True)
        written.append(Experiment(out).export_config(trained.config))
    for net, which in (("G", "generator"), ("D", "discriminator")):
        if to == "torch":
            train = trained.config.train
            rate = float(train.learning_rate_schedule(which)(trained.epoch))
            beta1 = (train.generator if net == "G" else train.discriminator).optimizer.beta1
            written.append(save_torch_checkpoint(out / checkpoint_name(trained.epoch, net),
                                                 weights[net], learning_rate=rate, beta1=beta1))
        else:
            written.append(save_weights(trained.models[net],
                                        out / f"epoch{trained.epoch}_net{net}.msgpack"))
    return written
