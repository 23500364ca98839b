"""Configs shipped with the package: the reference's default pix2pix config (data).

``nectargan_default_config.json`` is NectarGAN's default config file, byte for byte:
``{"config": {...}}`` with the sections common, dataloader, train, save, visualizer.
Both the training job and ``interop.ConfigManager`` read it from here.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

DEFAULT_CONFIG_NAME = "nectargan_default_config.json"


def default_config_path() -> Path:
    """Path of the packaged default config file."""
    return Path(str(resources.files(__name__).joinpath(DEFAULT_CONFIG_NAME)))


def load_default_config() -> dict:
    """The packaged default config's inner dict (a fresh copy on every call)."""
    return json.loads(default_config_path().read_text(encoding="utf-8"))["config"]


__all__ = ["DEFAULT_CONFIG_NAME", "default_config_path", "load_default_config"]
