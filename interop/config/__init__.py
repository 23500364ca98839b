"""The reference's ``nectargan.config``: the config manager."""

from interop.config.config_manager import ConfigManager

__all__ = ["ConfigManager"]
