"""Loss specs: functions that declare a named set of losses, and the pix2pix spec."""

from __future__ import annotations

import os
from typing import Any

from nectargan_jax.losses._loss_spec import LossSpec, as_weight
from nectargan_jax.losses._functions import bce_with_logits, l1, laplacian, mse, sobel
from nectargan_jax.losses._layout import ImageLoss, check_layout
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
    layout: str = "NHWC",
) -> dict[str, LossSpec]:
    """The pix2pix objective as a spec (the reference's ``pix2pix(config, subspec)``).

    ``'basic'``: ``G_GAN`` (BCE with logits, ``lambda_gan``), ``G_L1`` (``lambda_l1``), both
    tagged ``G``, and ``D_real``, ``D_fake`` (BCE with logits, weight 1, tag ``D``).
    ``'extended'`` adds ``G_L2``, ``G_SOBEL``, ``G_LAP``; a ``'+vgg'`` suffix adds ``G_VGG``
    (``'+vgg'`` alone means ``'basic+vgg'``). Defaults are the reference config's lambdas.
    Each lambda may be a number or a schedule.

    The image losses (``G_SOBEL``, ``G_LAP``, ``G_VGG``) read images in ``layout``: NHWC
    by default (Flax's), NCHW as in the reference with ``layout='NCHW'``; a batch that
    cannot be in that layout raises (see ``nectargan_jax.losses.sobel``). ``G_SOBEL`` and
    ``G_LAP`` are :class:`ImageLoss` values, equal and hash-equal across calls, so two
    managers built from this spec share their compiled steps.

    Args:
      subspec: one of ``PIX2PIX_SUBSPECS``.
      lambda_gan, lambda_l1, lambda_l2, lambda_sobel, lambda_laplacian, lambda_vgg: weights.
      vgg_weights: a torchvision VGG19 state-dict file, needed for ``'+vgg'``.
      layout: ``'NHWC'`` or ``'NCHW'``, the layout of the generator's images.

    Raises:
      ValueError: an unknown subspec (the reference silently falls back to 'basic') or
        layout; a lambda that is not finite or not a scalar (checked for every lambda,
        used by the subspec or not, so a typo fails here and not later).
      TypeError: a lambda that is neither a real number nor a schedule.

    Examples:
      >>> from nectargan_jax import LossManager
      >>> LossManager().with_spec(pix2pix, 'extended').names
      ('G_GAN', 'G_L1', 'D_real', 'D_fake', 'G_L2', 'G_SOBEL', 'G_LAP')
    """
    if subspec not in PIX2PIX_SUBSPECS:
        raise ValueError(f"subspec must be one of {PIX2PIX_SUBSPECS}, got {subspec=}.")
    check_layout(layout)
    lambdas = {"lambda_gan": ("G_GAN", lambda_gan), "lambda_l1": ("G_L1", lambda_l1),
               "lambda_l2": ("G_L2", lambda_l2), "lambda_sobel": ("G_SOBEL", lambda_sobel),
               "lambda_laplacian": ("G_LAP", lambda_laplacian),
               "lambda_vgg": ("G_VGG", lambda_vgg)}
    for argument, (loss, value) in lambdas.items():
        try:
            as_weight(loss, value)
        except (TypeError, ValueError) as error:
            raise type(error)(f"pix2pix: {argument} (the weight of {loss!r}): {error}") from None
    spec = {
        "G_GAN": LossSpec(bce_with_logits, lambda_gan, ("G",)),
        "G_L1": LossSpec(l1, lambda_l1, ("G",)),
        "D_real": LossSpec(bce_with_logits, 1.0, ("D",)),
        "D_fake": LossSpec(bce_with_logits, 1.0, ("D",)),
    }
    if subspec.startswith("extended"):
        spec["G_L2"] = LossSpec(mse, lambda_l2, ("G",))
        spec["G_SOBEL"] = LossSpec(ImageLoss(sobel, layout), lambda_sobel, ("G",))
        spec["G_LAP"] = LossSpec(ImageLoss(laplacian, layout), lambda_laplacian, ("G",))
    if subspec.endswith("+vgg"):
        spec["G_VGG"] = LossSpec(vgg_perceptual_loss(vgg_weights, layout=layout), lambda_vgg,
                                 ("G",))
    return spec
