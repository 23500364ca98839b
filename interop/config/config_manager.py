"""``ConfigManager``: a JSON config with attribute access, merged over the defaults.

The reference's default config file is not available here; this package's defaults are
the keys the reference's LossManager and pix2pix spec read::

    {
        "common": {"device": "cpu"},
        "dataloader": {
            "dataroot": "",
            "load": {"input_nc": 3, "crop_size": 256}
        },
        "train": {
            "loss": {
                "lambda_gan": 1.0, "lambda_l1": 100.0, "lambda_l2": 0.0,
                "lambda_sobel": 0.0, "lambda_laplacian": 0.0, "lambda_vgg": 0.0,
                "vgg_weights": null
            }
        }
    }

A user's config (a dict or a JSON file) may be partial: nested objects are merged key by
key over these defaults, and other values replace the default. Keys the defaults lack are
kept. ``train.loss.vgg_weights`` is the path of torchvision's VGG19 state dict used by
``VGGPerceptual`` (nothing is downloaded).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
import json
import os
from types import SimpleNamespace
from typing import Any

DEFAULT_CONFIG: dict[str, Any] = {
    "common": {"device": "cpu"},
    "dataloader": {"dataroot": "", "load": {"input_nc": 3, "crop_size": 256}},
    "train": {
        "loss": {
            "lambda_gan": 1.0,
            "lambda_l1": 100.0,
            "lambda_l2": 0.0,
            "lambda_sobel": 0.0,
            "lambda_laplacian": 0.0,
            "lambda_vgg": 0.0,
            "vgg_weights": None,
        },
    },
}


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _to_namespace(value: Any) -> Any:
    if isinstance(value, Mapping):
        return SimpleNamespace(**{k: _to_namespace(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_to_namespace(v) for v in value]
    return value


class ConfigManager:
    """Loads a config and exposes it as nested attributes in ``.data``.

    Args:
        path_or_dict: the path of a JSON config file, a dict in the same form, or
            ``None`` for the defaults. Either is merged over ``DEFAULT_CONFIG``.

    Attributes:
        data: the merged config; objects become ``types.SimpleNamespace`` (so
            ``data.train.loss.lambda_l1``), lists stay lists.

    Raises:
        TypeError: ``path_or_dict`` is neither a path, a mapping nor None, or the file's
            JSON is not an object.
        FileNotFoundError: the path does not exist.

    Examples:
        >>> ConfigManager({"train": {"loss": {"lambda_l1": 10.0}}}).data.train.loss.lambda_l1
        10.0
        >>> ConfigManager(None).data.common.device
        'cpu'
    """

    def __init__(self, path_or_dict: str | os.PathLike | Mapping[str, Any] | None = None) -> None:
        if path_or_dict is None:
            user: Mapping[str, Any] = {}
        elif isinstance(path_or_dict, Mapping):
            user = path_or_dict
        elif isinstance(path_or_dict, (str, os.PathLike)):
            with open(path_or_dict, encoding="utf-8") as f:
                user = json.load(f)
            if not isinstance(user, Mapping):
                raise TypeError(
                    f"the config file {os.fspath(path_or_dict)!r} must hold a JSON object, "
                    f"got {type(user).__name__}.")
        else:
            raise TypeError(
                "ConfigManager takes a path to a JSON file, a dict or None, got "
                f"{type(path_or_dict).__name__}: {path_or_dict!r}.")
        self.data = _to_namespace(_merge(DEFAULT_CONFIG, user))


def config_data(config: Any) -> Any:
    """The attribute-access config for anything a LossManager or spec accepts.

    Args:
        config: ``None`` (the defaults), a ``ConfigManager``, a dict or a path to a JSON
            config (merged over the defaults), or any object with the attributes read
            (``common.device``, ``dataloader...``, ``train.loss...``), returned as is.

    Returns:
        An object with nested attributes.
    """
    if isinstance(config, ConfigManager):
        return config.data
    if config is None or isinstance(config, (Mapping, str, os.PathLike)):
        return ConfigManager(config).data
    return config
