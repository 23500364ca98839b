"""The reference's pix2pix loss spec, for ``LossManager.init_from_spec``.

Difference (deliberate): an unknown ``subspec`` raises a ``ValueError`` (the reference
silently returns the ``'basic'`` set).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from interop.config.config_manager import config_data
from interop.losses.lm_data import LMLoss
from interop.losses.losses import Laplacian, Sobel, VGGPerceptual

SUBSPECS = ("basic", "extended", "basic+vgg", "extended+vgg")


def pix2pix(config: Any, subspec: str = "basic") -> dict[str, LMLoss]:
    """The pix2pix objective as ``name -> LMLoss``, weighted by the config's lambdas.

    ``'basic'``: ``G_GAN`` (BCEWithLogits, ``lambda_gan``, tag ``'G'``), ``G_L1`` (L1,
    ``lambda_l1``, ``'G'``), ``D_real`` and ``D_fake`` (BCEWithLogits, 1.0, ``'D'``).
    ``'extended'`` adds ``G_L2`` (MSE, ``lambda_l2``), ``G_SOBEL`` (``lambda_sobel``) and
    ``G_LAP`` (``lambda_laplacian``), all ``'G'``. A ``'+vgg'`` suffix adds ``G_VGG``
    (``VGGPerceptual`` with the weights file ``train.loss.vgg_weights``,
    ``lambda_vgg``, ``'G'``). Entries are ordered G first, then D. Every module is moved to
    ``config.common.device``.

    Args:
        config: the config (anything ``LossManager`` accepts); reads
            ``train.loss.lambda_*``, ``train.loss.vgg_weights`` and ``common.device``.
        subspec: one of ``'basic'``, ``'extended'``, ``'basic+vgg'``, ``'extended+vgg'``.

    Returns:
        The losses, unscheduled (each weight is its lambda).

    Raises:
        ValueError: an unknown ``subspec``, or ``'+vgg'`` without VGG19 weights.

    Examples:
        >>> list(pix2pix(None))
        ['G_GAN', 'G_L1', 'D_real', 'D_fake']
        >>> pix2pix(None)['G_L1'].schedule.current_value
        100.0
    """
    if subspec not in SUBSPECS:
        raise ValueError(f"Unknown pix2pix subspec {subspec!r}; accepted: {SUBSPECS}.")
    cfg = config_data(config)
    lam = cfg.train.loss
    generator = [("G_GAN", nn.BCEWithLogitsLoss(), lam.lambda_gan),
                 ("G_L1", nn.L1Loss(), lam.lambda_l1)]
    if subspec.startswith("extended"):
        generator += [("G_L2", nn.MSELoss(), lam.lambda_l2),
                      ("G_SOBEL", Sobel(), lam.lambda_sobel),
                      ("G_LAP", Laplacian(), lam.lambda_laplacian)]
    if subspec.endswith("+vgg"):
        generator.append(("G_VGG", VGGPerceptual(lam.vgg_weights), lam.lambda_vgg))
    device = cfg.common.device
    losses = {name: LMLoss(name, fn.to(device), weight, tags=["G"])
              for name, fn, weight in generator}
    for name in ("D_real", "D_fake"):
        losses[name] = LMLoss(name, nn.BCEWithLogitsLoss().to(device), 1.0, tags=["D"])
    return losses
