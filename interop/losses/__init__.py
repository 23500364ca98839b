"""The reference's ``nectargan.losses``: LossManager, its records, loss modules, specs."""

from interop.losses.lm_data import LMHistory
from interop.losses.lm_data import LMLoss
from interop.losses.loss_manager import LossManager
from interop.losses.losses import Laplacian
from interop.losses.losses import Sobel
from interop.losses.losses import VGGPerceptual
from interop.losses.pix2pix_objective import pix2pix

__all__ = ["LMHistory", "LMLoss", "Laplacian", "LossManager", "Sobel", "VGGPerceptual",
           "pix2pix"]
