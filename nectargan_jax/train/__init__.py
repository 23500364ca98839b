"""The pix2pix training job: config, data, and (from ``_step``/``_loop``) the trainer."""

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

__all__ = [
    "LOSS_LAMBDAS", "PairedDataset", "PairedImageFolder", "SyntheticPairs", "batches",
    "embedded_default_overrides", "learning_rate_schedule", "load_config", "loss_weights",
    "prefetch", "total_epochs",
]
