"""Reference-format configs for the interop tests: the packaged default with changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nectargan_jax.configs import load_default_config


def reference_config(settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The default config's inner dict with ``settings`` (dotted paths -> values) set.

    Example: ``reference_config({"dataloader.load.crop_size": 4})``.
    """
    config = load_default_config()
    for dotted, value in (settings or {}).items():
        *parents, leaf = dotted.split(".")
        section = config
        for name in parents:
            section = section[name]
        if leaf not in section:
            raise KeyError(f"the default config has no {dotted!r}")
        section[leaf] = value
    return config
