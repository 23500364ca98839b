"""Pure loss functions, the LossManager pytree, the loss log and loss specs."""

from nectargan_jax.losses._entry import LossEntry
from nectargan_jax.losses._entry import LossSpec
from nectargan_jax.losses._functions import bce_with_logits
from nectargan_jax.losses._functions import l1
from nectargan_jax.losses._functions import laplacian
from nectargan_jax.losses._functions import mse
from nectargan_jax.losses._functions import sobel
from nectargan_jax.losses._health import HealthChecks
from nectargan_jax.losses._health_report import GANHealthWarning
from nectargan_jax.losses._health_report import HealthEvent
from nectargan_jax.losses._health_report import HealthReport
from nectargan_jax.losses._history import History
from nectargan_jax.losses._layout import LAYOUTS
from nectargan_jax.losses._layout import ImageLoss
from nectargan_jax.losses._log import LogRecovery
from nectargan_jax.losses._log import LossLog
from nectargan_jax.losses._log_format import DamagedLogError
from nectargan_jax.losses._manager import LossManager
from nectargan_jax.losses._objective import Evaluation
from nectargan_jax.losses._objective import Objective
from nectargan_jax.losses import reporting
from nectargan_jax.losses._specs import PIX2PIX_SUBSPECS
from nectargan_jax.losses._specs import pix2pix
from nectargan_jax.losses._vgg import VGG19Features
from nectargan_jax.losses._vgg import VGGPerceptual
from nectargan_jax.losses._vgg import load_vgg19_features
from nectargan_jax.losses._vgg import vgg_perceptual_loss

__all__ = [
    "DamagedLogError", "Evaluation", "GANHealthWarning", "HealthChecks", "HealthEvent",
    "HealthReport", "History", "ImageLoss", "LAYOUTS", "LogRecovery",
    "LossEntry", "LossLog", "LossManager", "LossSpec", "Objective", "PIX2PIX_SUBSPECS",
    "VGG19Features", "VGGPerceptual", "bce_with_logits", "l1", "laplacian",
    "load_vgg19_features", "mse", "pix2pix", "reporting", "sobel", "vgg_perceptual_loss",
]
