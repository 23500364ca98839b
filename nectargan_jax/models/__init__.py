"""Flax NNX pix2pix models (NHWC): the reference's U-Net generator and PatchGAN
discriminator, and their weights in the reference's PyTorch format."""

from nectargan_jax.models._build import build_models
from nectargan_jax.models._layers import CONV_IMPLS
from nectargan_jax.models._layers import NORMS
from nectargan_jax.models._layers import UPSAMPLE_TYPES
from nectargan_jax.models._layers import select_conv_impl
from nectargan_jax.models._patchgan import PatchGANDiscriminator
from nectargan_jax.models._state_dict import StateDictMismatchError
from nectargan_jax.models._state_dict import load_torch_state_dict
from nectargan_jax.models._state_dict import torch_state_dict
from nectargan_jax.models._torch_checkpoint import checkpoint_name
from nectargan_jax.models._torch_checkpoint import load_torch_checkpoint
from nectargan_jax.models._torch_checkpoint import save_torch_checkpoint
from nectargan_jax.models._unet import BLOCK_TYPES
from nectargan_jax.models._unet import UnetGenerator

__all__ = ["BLOCK_TYPES", "CONV_IMPLS", "NORMS", "PatchGANDiscriminator",
           "StateDictMismatchError", "UPSAMPLE_TYPES", "UnetGenerator", "build_models",
           "checkpoint_name", "load_torch_checkpoint", "load_torch_state_dict",
           "save_torch_checkpoint", "select_conv_impl", "torch_state_dict"]
