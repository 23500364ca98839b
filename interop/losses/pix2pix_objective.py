"""The reference's pix2pix loss spec, for ``LossManager.init_from_spec``.

Difference (deliberate): an unknown ``subspec`` raises a ``ValueError`` (the reference
silently returns the ``'basic'`` set).
"""

from __future__ import annotations

from numbers import Real
from typing import Any

from torch import nn

from interop.config.config_manager import config_data, read_setting
from interop.losses.lm_data import LMLoss
from interop.losses.losses import Laplacian, Sobel, VGGPerceptual

SUBSPECS = ("basic", "extended", "basic+vgg", "extended+vgg", "+vgg")


def _lambda(config: Any, name: str) -> float:
    value = read_setting(config, f"train.loss.{name}", "pix2pix")
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"pix2pix: config.train.loss.{name} must be a number, got {value!r}.")
    return value


def pix2pix(config: Any, subspec: str = "basic") -> dict[str, LMLoss]:
    """The pix2pix objective as ``name -> LMLoss``, weighted by the config's lambdas.

    ``'basic'``: ``G_GAN`` (BCEWithLogits, ``lambda_gan``, tag ``'G'``), ``G_L1`` (L1,
    ``lambda_l1``, ``'G'``), ``D_real`` and ``D_fake`` (BCEWithLogits, 1.0, ``'D'``).
    ``'extended'`` then adds ``G_L2`` (MSE, ``lambda_l2``), ``G_SOBEL``
    (``lambda_sobel``) and ``G_LAP`` (``lambda_laplacian``), all ``'G'``. A ``'+vgg'``
    suffix appends ``G_VGG`` (``VGGPerceptual()``, ``lambda_vgg``, ``'G'``; ``'+vgg'``
    alone means ``'basic+vgg'``). This order is the reference's, and shows in the
    console line and the log. Every module is moved to ``config.common.device``.

    Args:
        config: the config (anything ``LossManager`` accepts, usually
            ``ConfigManager(...).data``); reads ``train.loss.lambda_*`` and
            ``common.device``.
        subspec: one of ``'basic'``, ``'extended'``, ``'basic+vgg'``, ``'extended+vgg'``,
            ``'+vgg'``.

    Returns:
        The losses, unscheduled (each weight is its lambda).

    Raises:
        ValueError: an unknown ``subspec``, or a lambda the config lacks.
        TypeError: a lambda that is not a number.
        FileNotFoundError: ``'+vgg'`` without the VGG19 weights file (see
            ``VGGPerceptual``).

    Examples:
        >>> list(pix2pix(None, 'extended'))
        ['G_GAN', 'G_L1', 'D_real', 'D_fake', 'G_L2', 'G_SOBEL', 'G_LAP']
        >>> pix2pix(None)['G_L1'].schedule.current_value
        100.0
    """
    if subspec not in SUBSPECS:
        raise ValueError(f"Unknown pix2pix subspec {subspec!r}; accepted: {SUBSPECS}.")
    cfg = config_data(config)
    bce = nn.BCEWithLogitsLoss
    table = [("G_GAN", bce, "lambda_gan", "G"), ("G_L1", nn.L1Loss, "lambda_l1", "G"),
             ("D_real", bce, None, "D"), ("D_fake", bce, None, "D")]
    if subspec.startswith("extended"):
        table += [("G_L2", nn.MSELoss, "lambda_l2", "G"), ("G_SOBEL", Sobel, "lambda_sobel", "G"),
                  ("G_LAP", Laplacian, "lambda_laplacian", "G")]
    if subspec.endswith("+vgg"):
        table.append(("G_VGG", VGGPerceptual, "lambda_vgg", "G"))
    weights = {name: 1.0 if key is None else _lambda(cfg, key) for name, _, key, _ in table}
    device = read_setting(cfg, "common.device", "pix2pix")
    return {name: LMLoss(name, module().to(device), weights[name], tags=[tag])
            for name, module, _, tag in table}
