"""The pix2pix training job: config, data, the compiled step, checkpoints, the loop, plots.

It needs the ``train`` extra (``pip install 'nectargan-jax[train]'``).
"""

from nectargan_jax.train._requirements import check_train_extra

check_train_extra()

from nectargan_jax._cpu_memory import keep_freed_memory
from nectargan_jax._xla_flags import apply_cpu_flags
from nectargan_jax.train._augment_config import AugmentationsConfig
from nectargan_jax.train._augment_config import BothAugmentations
from nectargan_jax.train._augment_config import InputAugmentations
from nectargan_jax.train._augment_config import TargetAugmentations
from nectargan_jax.train._checkpoint import CheckpointMismatchError
from nectargan_jax.train._checkpoint import Checkpoints
from nectargan_jax.train._checkpoint import config_fingerprint
from nectargan_jax.train._config import CommonConfig
from nectargan_jax.train._config import DataConfig
from nectargan_jax.train._config import DiscriminatorConfig
from nectargan_jax.train._config import GeneratorConfig
from nectargan_jax.train._config import LearningRateConfig
from nectargan_jax.train._config import LoadConfig
from nectargan_jax.train._config import OptimizerConfig
from nectargan_jax.train._config import ResumeConfig
from nectargan_jax.train._config import SaveConfig
from nectargan_jax.train._config import TrainConfig
from nectargan_jax.train._config import TrainingConfig
from nectargan_jax.train._config import VisdomConfig
from nectargan_jax.train._config import VisualizerConfig
from nectargan_jax.train._config import embedded_default_overrides
from nectargan_jax.train._config import load_config
from nectargan_jax.train._config_loss import LOSS_LAMBDAS
from nectargan_jax.train._config_loss import AdaptiveGanWeightConfig
from nectargan_jax.train._config_loss import HealthConfig
from nectargan_jax.train._config_loss import LossConfig
from nectargan_jax.train._config_loss import ScheduleConfig
from nectargan_jax.train._config_loss import UncertaintyWeightingConfig
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
    "AdaptiveGanWeightConfig", "AugmentationsConfig", "BothAugmentations",
    "CheckpointMismatchError", "Checkpoints", "CommonConfig", "DataConfig",
    "DiscriminatorConfig", "GeneratorConfig", "HealthConfig", "InputAugmentations",
    "LOSS_LAMBDAS", "LearningRateConfig", "LoadConfig", "LossConfig", "OptimizerConfig",
    "PairedDataset", "PairedImageFolder", "Pix2PixStep", "ResumeConfig", "SaveConfig",
    "ScheduleConfig", "SyntheticPairs", "TargetAugmentations", "TrainConfig", "TrainResult",
    "TrainState", "TrainingConfig", "UncertaintyWeightingConfig", "VisdomConfig",
    "VisualizerConfig", "apply_cpu_flags", "batches", "build_training", "config_fingerprint",
    "embedded_default_overrides", "keep_freed_memory", "load_config", "plot_loss_log",
    "plot_schedules", "prefetch", "save_example_grid", "train",
]
