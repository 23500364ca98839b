"""Loss specs: functions that declare a named set of losses, and the pix2pix spec."""

from __future__ import annotations

import os
from typing import Any

from nectargan_jax.losses._entry import LossSpec
from nectargan_jax.losses._functions import bce_with_logits, l1, laplacian, mse, sobel
from nectargan_jax.losses._vgg import vgg_perceptual_loss

PIX2PIX_SUBSPECS = ("basic", "extended", "basic+vgg", "extended+vgg", "+vgg")


def pix2pix(
    subspec: str = "basic",
    *,
    lambda_gan: Any = 1.0,
    lambda_l1: Any = 100.0,
    lambda_l2: Any = 0.0,
    lambda_sobel: Any = 0.0,
    lambda_laplacian: Any = 0.0,
    lambda_vgg: Any = 0.0,
    vgg_weights: str | os.PathLike | None = None,
) -> dict[str, LossSpec]:
    """The pix2pix objective as a spec (the reference's ``pix2pix(config, subspec)``).

    ``'basic'``: ``G_GAN`` (BCE with logits, ``lambda_gan``), ``G_L1`` (``lambda_l1``), both
    tagged ``G``, and ``D_real``, ``D_fake`` (BCE with logits, weight 1, tag ``D``).
    ``'extended'`` adds ``G_L2``, ``G_SOBEL``, ``G_LAP``; a ``'+vgg'`` suffix adds ``G_VGG``
    (``'+vgg'`` alone means ``'basic+vgg'``). Defaults are the reference config's lambdas.
    Each lambda may be a number or a schedule.

    Args:
      subspec: one of ``PIX2PIX_SUBSPECS``.
      lambda_gan, lambda_l1, lambda_l2, lambda_sobel, lambda_laplacian, lambda_vgg: weights.
      vgg_weights: a torchvision VGG19 state-dict file, needed for ``'+vgg'``.

    Raises:
      ValueError: an unknown subspec (the reference silently falls back to 'basic').

    Examples:
      >>> from nectargan_jax.losses import LossManager
      >>> LossManager().with_spec(pix2pix, 'extended').names
      ('G_GAN', 'G_L1', 'D_real', 'D_fake', 'G_L2', 'G_SOBEL', 'G_LAP')
    """
    if subspec not in PIX2PIX_SUBSPECS:
        raise ValueError(f"subspec must be one of {PIX2PIX_SUBSPECS}, got {subspec=}.")
    spec = {
        "G_GAN": LossSpec(bce_with_logits, lambda_gan, ("G",)),
        "G_L1": LossSpec(l1, lambda_l1, ("G",)),
        "D_real": LossSpec(bce_with_logits, 1.0, ("D",)),
        "D_fake": LossSpec(bce_with_logits, 1.0, ("D",)),
    }
    if subspec.startswith("extended"):
        spec["G_L2"] = LossSpec(mse, lambda_l2, ("G",))
        spec["G_SOBEL"] = LossSpec(sobel, lambda_sobel, ("G",))
        spec["G_LAP"] = LossSpec(laplacian, lambda_laplacian, ("G",))
    if subspec.endswith("+vgg"):
        spec["G_VGG"] = LossSpec(vgg_perceptual_loss(vgg_weights), lambda_vgg, ("G",))
    return spec
