"""``build_models``: the generator and discriminator a pix2pix config describes."""

from __future__ import annotations

from typing import Any

from flax import nnx

from nectargan_jax.models._patchgan import PatchGANDiscriminator
from nectargan_jax.models._unet import UnetGenerator


def build_models(config: dict[str, Any], rngs: nnx.Rngs
                 ) -> tuple[UnetGenerator, PatchGANDiscriminator]:
    """The U-Net generator and PatchGAN discriminator of a (validated) config's inner dict,
    as the reference's trainer builds them.

    Reads ``dataloader.load.input_nc`` (input and output channels),
    ``train.generator.{features, n_downs, block_type, upsample_type}``, the optional
    ``train.generator.norm`` (``'instance'`` when absent, as the reference; ``'batch'``
    is an extension), the optional ``train.generator.conv_impl`` (``'auto'`` when absent;
    an extension: how both models convolve, see ``UnetGenerator``) and
    ``train.discriminator.{n_layers, base_channels, max_channels}``; the discriminator
    sees the input and the target (or fake) concatenated, ``2 * input_nc`` channels, and
    always uses instance norm (the reference's).

    Args:
      config: the inner dict of a config file (``TrainConfig.to_dict()``).
      rngs: parameter initialisation and the generator's dropout stream.

    Returns:
      ``(generator, discriminator)``.

    Examples:
      >>> from nectargan_jax.configs import load_default_config
      >>> config = load_default_config()
      >>> config["train"]["generator"].update(features=4, n_downs=2)
      >>> g, d = build_models(config, nnx.Rngs(0))
      >>> g.n_downs, d.in_channels
      (2, 6)
    """
    channels = config["dataloader"]["load"]["input_nc"]
    gen, disc = config["train"]["generator"], config["train"]["discriminator"]
    conv_impl = gen.get("conv_impl", "auto")
    generator = UnetGenerator(
        channels, channels, features=gen["features"], n_downs=gen["n_downs"],
        block_type=gen["block_type"], upsample_type=gen["upsample_type"],
        norm=gen.get("norm", "instance"), rngs=rngs, conv_impl=conv_impl)
    discriminator = PatchGANDiscriminator(
        2 * channels, n_layers=disc["n_layers"], base_channels=disc["base_channels"],
        max_channels=disc["max_channels"], rngs=rngs, conv_impl=conv_impl)
    return generator, discriminator
