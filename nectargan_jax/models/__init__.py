"""Flax NNX pix2pix models (NHWC): the U-Net generator and the PatchGAN discriminator."""

from nectargan_jax.models._build import build_models
from nectargan_jax.models._layers import NORMS
from nectargan_jax.models._layers import UPSAMPLE_TYPES
from nectargan_jax.models._patchgan import PatchGANDiscriminator
from nectargan_jax.models._unet import BLOCK_TYPES
from nectargan_jax.models._unet import UnetGenerator

__all__ = ["BLOCK_TYPES", "NORMS", "PatchGANDiscriminator", "UPSAMPLE_TYPES",
           "UnetGenerator", "build_models"]
