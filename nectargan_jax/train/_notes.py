"""What a run says once at its start: settings it cannot follow as they read.

Not errors (the run is still what the user asked for, or the closest this trainer can
do), but never silent: the device the config names and the one JAX runs on, GPU ids the
trainer does not select by, and epochs trained at a learning rate of 0.
"""

from __future__ import annotations

from typing import Any

from nectargan_jax.train._config import TrainConfig

# ``common.device``'s kinds (torch's names) -> JAX's platform names.
_PLATFORMS = {"cpu": "cpu", "cuda": "gpu", "gpu": "gpu", "tpu": "tpu", "mps": "METAL"}


def startup_notes(config: TrainConfig, epochs: int, device: Any) -> list[str]:
    """One line per setting the run follows differently from how it reads.

    Args:
      config: the run's config.
      epochs: the epoch the run ends after.
      device: the JAX device the run uses first (``jax.devices()[0]``).

    Returns:
      The lines, in a fixed order (device, GPU ids, learning rates); none for a config
      the run follows as written.

    Examples:
      >>> import jax
      >>> from nectargan_jax.train import load_config
      >>> startup_notes(load_config(), 200, jax.devices("cpu")[0])
      []
      >>> startup_notes(load_config(), 203, jax.devices("cpu")[0])[0][:73]
      'epochs=203 runs past the end of train.generator.learning_rate: from epoch'
    """
    common, notes = config.common, []
    kind, _, index = common.device.partition(":")
    if _PLATFORMS[kind] != device.platform or (index and int(index) != device.id):
        notes.append(f"common.device is {common.device!r}, but JAX runs on {device} "
                     f"(platform {device.platform!r}, its default backend): training runs "
                     "there (JAX_PLATFORMS chooses the backend).")
    if list(common.gpu_ids) != [0]:
        notes.append(f"common.gpu_ids is {list(common.gpu_ids)}, which this trainer does not "
                     "use: it shards over the first --devices N local devices, in JAX's "
                     "order.")
    train = config.train
    separate = train.separate_lr_schedules
    models = (("generator", train.generator), ("discriminator", train.discriminator))
    for which, model in models if separate else models[:1]:
        lr = model.learning_rate
        learners = (f"the {which} does" if separate
                    else "the generator and the discriminator do")
        end = lr.epochs + lr.epochs_decay
        if lr.initial == 0 and lr.target == 0:
            notes.append(f"train.{which}.learning_rate is 0 throughout (initial and target "
                         f"0): {learners} not learn.")
        elif lr.target == 0 and epochs > end:
            notes.append(f"epochs={epochs} runs past the end of train.{which}.learning_rate: "
                         f"from epoch {end + 1} on the learning rate is its target, 0, so "
                         f"{learners} not learn in the last {epochs - end} epochs.")
    return notes
