"""The pix2pix training job: config, data, the compiled step, checkpoints, the loop, plots.

It needs the ``train`` extra (``pip install 'nectargan-jax[train]'``).
"""

from nectargan_jax.train._requirements import check_train_extra

check_train_extra()

from nectargan_jax._xla_flags import apply_cpu_flags
from nectargan_jax.train._checkpoint import CheckpointMismatchError
from nectargan_jax.train._checkpoint import Checkpoints
from nectargan_jax.train._checkpoint import config_fingerprint
from nectargan_jax.train._config import LOSS_LAMBDAS
from nectargan_jax.train._config import embedded_default_overrides
from nectargan_jax.train._config import learning_rate_schedule
from nectargan_jax.train._config import load_config
from nectargan_jax.train._config import loss_weights
from nectargan_jax.train._config import total_epochs
from nectargan_jax.train._data import PairedDataset
from nectargan_jax.train._data import PairedImageFolder
from nectargan_jax.train._data import SyntheticPairs
from nectargan_jax.train._data import batches
from nectargan_jax.train._data import prefetch
from nectargan_jax.train._loop import TrainResult
from nectargan_jax.train._loop import train
from nectargan_jax.train._plots import plot_loss_log
from nectargan_jax.train._plots import plot_schedules
from nectargan_jax.train._plots import save_example_grid
from nectargan_jax.train._step import Pix2PixStep
from nectargan_jax.train._step import TrainState
from nectargan_jax.train._step import build_training

__all__ = [
    "CheckpointMismatchError", "Checkpoints", "LOSS_LAMBDAS", "PairedDataset",
    "PairedImageFolder", "Pix2PixStep", "SyntheticPairs", "TrainResult", "TrainState",
    "apply_cpu_flags", "batches", "build_training", "config_fingerprint",
    "embedded_default_overrides", "learning_rate_schedule", "load_config", "loss_weights",
    "plot_loss_log", "plot_schedules", "prefetch", "save_example_grid", "total_epochs", "train",
]
