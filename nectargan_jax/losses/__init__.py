"""Pure loss functions (NHWC by default), the VGG19 perceptual loss, and loss specs."""

from nectargan_jax.losses._functions import bce_with_logits
from nectargan_jax.losses._functions import l1
from nectargan_jax.losses._functions import laplacian
from nectargan_jax.losses._functions import mse
from nectargan_jax.losses._functions import sobel
from nectargan_jax.losses._layout import ImageLoss
from nectargan_jax.losses._loss_spec import LossSpec
from nectargan_jax.losses._specs import PIX2PIX_SUBSPECS
from nectargan_jax.losses._specs import pix2pix
from nectargan_jax.losses._vgg import VGG19Features
from nectargan_jax.losses._vgg import VGGPerceptual
from nectargan_jax.losses._vgg import load_vgg19_features
from nectargan_jax.losses._vgg import vgg_perceptual_loss

__all__ = [
    "ImageLoss", "LossSpec", "PIX2PIX_SUBSPECS", "VGG19Features", "VGGPerceptual",
    "bce_with_logits", "l1", "laplacian", "load_vgg19_features", "mse", "pix2pix", "sobel",
    "vgg_perceptual_loss",
]
