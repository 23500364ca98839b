"""The reference's ``nectargan.config``: the config manager and its dataclasses."""

from interop.config.config_data import Config
from interop.config.config_manager import GROUP_SCHEMA
from interop.config.config_manager import ConfigManager

__all__ = ["Config", "ConfigManager", "GROUP_SCHEMA"]
