"""The trainer's dependencies beyond the library's: the ``train`` extra.

``pip install nectargan-jax`` gives the library (jax, flax, optax, numpy);
``pip install 'nectargan-jax[train]'`` adds what this package imports, so importing it
without them names the extra instead of one missing module.
"""

from __future__ import annotations

import importlib

# Module imported by the trainer -> the distribution that provides it.
TRAIN_MODULES = {
    "orbax.checkpoint": "orbax-checkpoint",
    "PIL": "pillow",
    "matplotlib": "matplotlib",
    "tqdm": "tqdm",
    "dm_pix": "dm-pix",
}


def check_train_extra() -> None:
    """Imports the trainer's dependencies.

    Raises:
      ModuleNotFoundError: some are not installed (the message names them and the extra).
    """
    missing = []
    for module, distribution in TRAIN_MODULES.items():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            missing.append(distribution)
    if missing:
        raise ModuleNotFoundError(
            f"the trainer (nectargan_jax.train, the nectargan-jax command) needs "
            f"{', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
            "installed: pip install 'nectargan-jax[train]'.")
