"""``ConfigManager``: the reference's JSON config, as a raw dict and a dataclass tree.

A config file holds ``{"config": {...}}`` with the sections common, dataloader, train,
save and visualizer (the packaged default: ``nectargan_jax.configs.default_config_path()``,
the reference's own file). ``ConfigManager(input_config)`` takes such a file's path, the
inner dict itself, or None for the default; ``raw`` is the inner dict and ``data`` the
``Config`` dataclass tree built from it (``data.train.loss.lambda_l1``).

A dict must have exactly the default's keys at every level, as in the reference; a
file is read as it is, and a field its sections lack is None in ``data``.
"""

from __future__ import annotations

from collections.abc import Mapping
import copy
import dataclasses
import json
import os
from pathlib import Path
import typing
from typing import Any, TypeVar

from interop.config.config_data import (Config, ConfigCommon, ConfigDataloader, ConfigSave,
                                        ConfigTrain, ConfigVisualizer)
from nectargan_jax.configs import default_config_path, load_default_config

T = TypeVar("T")

GROUP_SCHEMA: dict[str, type] = {
    "common": ConfigCommon,
    "dataloader": ConfigDataloader,
    "train": ConfigTrain,
    "save": ConfigSave,
    "visualizer": ConfigVisualizer,
}

_INVALID_DICT = "Input config dict is invalid."


def _structure_mismatch(given: Any, default: Mapping[str, Any], where: str) -> str | None:
    """Where ``given``'s keys first differ from ``default``'s (recursively), or None."""
    if not isinstance(given, Mapping):
        return f"{where} must be a dict, got {type(given).__name__}: {given!r}"
    if set(given) != set(default):
        return (f"{where} has missing keys {sorted(set(default) - set(given))} and "
                f"unexpected keys {sorted(set(given) - set(default))}")
    for key, value in default.items():
        if isinstance(value, Mapping):
            found = _structure_mismatch(given[key], value, f"{where}[{key!r}]")
            if found:
                return found
        elif isinstance(given[key], Mapping):
            return f"{where}[{key!r}] must not be a dict, got {given[key]!r}"
    return None


def _section(data: Any, cls: type[T], where: str) -> T:
    """``cls`` built from the dict ``data``; nested dataclass fields recursively."""
    if not isinstance(data, Mapping):
        raise TypeError(
            f"the config section {where} must be a dict to build {cls.__name__}, got "
            f"{type(data).__name__}: {data!r}.")
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        value = data.get(field.name)
        hint = hints[field.name]
        if value is not None and dataclasses.is_dataclass(hint):
            value = _section(value, hint, f"{where}.{field.name}")
        else:
            value = copy.deepcopy(value)
        values[field.name] = value
    return cls(**values)


class ConfigManager:
    """Loads a config (a file, a dict or the default) into ``raw`` and ``data``.

    Args:
        input_config: the path of a JSON file holding ``{"config": {...}}``; the inner
            dict itself, with exactly the default config's keys at every level; or None
            for the packaged default config.

    Attributes:
        raw: the inner config dict (a copy of a dict given).
        data: the ``Config`` dataclass tree built from ``raw``.

    Raises:
        TypeError: ``input_config`` is not a path, a dict or None.
        ValueError: a dict without the default's key structure (``'Input config dict is
            invalid.'``, then where it differs), or a file that is not a JSON object with
            a ``"config"`` object.
        FileNotFoundError: no file at the path.

    Examples:
        >>> manager = ConfigManager()
        >>> manager.data.train.loss.lambda_l1, manager.data.dataloader.load.crop_size
        (100.0, 256)
        >>> manager.raw["common"]["device"]
        'cpu'
    """

    def __init__(self, input_config: str | os.PathLike | Mapping[str, Any] | None = None) -> None:
        if input_config is None or isinstance(input_config, (str, os.PathLike)):
            self.raw = self.parse_config_file(input_config)
        elif isinstance(input_config, Mapping):
            mismatch = _structure_mismatch(input_config, load_default_config(), "input_config")
            if mismatch:
                raise ValueError(
                    f"{_INVALID_DICT} {mismatch}; a config dict must have exactly the keys of "
                    f"the default config ({default_config_path()}) at every level.")
            self.raw = copy.deepcopy(dict(input_config))
        else:
            raise TypeError(
                "ConfigManager(input_config) takes the path of a JSON config file, a config "
                f"dict or None, got {type(input_config).__name__}: {input_config!r}.")
        self.data = self.load_full_config()

    @staticmethod
    def parse_config_file(config_file: str | os.PathLike | None) -> dict[str, Any]:
        """The inner dict of a config file (``{"config": {...}}``).

        Args:
            config_file: the file's path, or None for the packaged default config.

        Returns:
            The dict under the file's ``"config"`` key.

        Raises:
            FileNotFoundError: no file at ``config_file``.
            ValueError: the file is not UTF-8 JSON, or not an object with a ``"config"``
                object.
        """
        if config_file is None:
            return load_default_config()
        path = Path(config_file)
        if not path.is_file():
            raise FileNotFoundError(f"ConfigManager: no config file at {os.fspath(path)!r}.")
        name = os.fspath(path)
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"the config file {name!r} is not valid JSON: {err}") from err
        except UnicodeDecodeError as err:
            raise ValueError(f"the config file {name!r} is not UTF-8 text (JSON must be): "
                             f"{err}") from None
        if not isinstance(content, Mapping):
            raise ValueError(f'the config file {name!r} must hold a JSON object {{"config": '
                             f"{{...}}}}, got {type(content).__name__}.")
        if not isinstance(content.get("config"), Mapping):
            raise ValueError(f'the config file {name!r} must hold a JSON object {{"config": '
                             f"{{...}}}}, got one with the keys {sorted(content)}.")
        return dict(content["config"])

    @staticmethod
    def load_config_section(data: Mapping[str, Any], cls: type[T]) -> T:
        """The dataclass ``cls`` built from one config section.

        Each field takes ``data``'s value of its name (None if missing); a field typed as
        a config dataclass is built from its sub-dict the same way. Other keys are
        ignored.

        Args:
            data: the section's dict, e.g. ``raw['train']``.
            cls: a config dataclass, e.g. ``ConfigTrain`` (see ``GROUP_SCHEMA``).

        Returns:
            The ``cls`` instance.

        Raises:
            TypeError: ``data`` (or a sub-section for a dataclass field) is not a dict.
        """
        return _section(data, cls, cls.__name__)

    def load_full_config(self) -> Config:
        """The ``Config`` tree of ``raw``: each ``GROUP_SCHEMA`` section (None if missing)."""
        return Config(**{
            name: None if self.raw.get(name) is None
            else _section(self.raw[name], cls, f"config[{name!r}]")
            for name, cls in GROUP_SCHEMA.items()})

    def export_config(self, output_directory: str | os.PathLike) -> None:
        """Writes ``{"config": raw}`` (indent 4) to ``train{n}_config.json`` in the folder.

        ``n`` is 1 + the number of files in the folder matching ``*config.json``, so each
        run of a training job in the same folder gets the next number.

        Args:
            output_directory: an existing folder.

        Raises:
            FileNotFoundError: the folder does not exist.
        """
        folder = Path(output_directory)
        if not folder.is_dir():
            raise FileNotFoundError(
                f"export_config: output_directory {os.fspath(folder)!r} is not an existing "
                "folder.")
        number = 1 + sum(1 for _ in folder.glob("*config.json"))
        with open(folder / f"train{number}_config.json", "w", encoding="utf-8") as f:
            json.dump({"config": self.raw}, f, indent=4)


def config_data(config: Any) -> Any:
    """The attribute-access config for anything a LossManager or spec accepts.

    Args:
        config: ``None`` (the packaged default), a ``ConfigManager`` (its ``data``), a
            config dict or file path (through ``ConfigManager``), or a ``Config`` (or any
            object with the attributes read), returned as is.

    Returns:
        An object with nested attributes (``common.device``, ...).
    """
    if isinstance(config, ConfigManager):
        return config.data
    if config is None or isinstance(config, (Mapping, str, os.PathLike)):
        return ConfigManager(config).data
    return config


def read_setting(config: Any, dotted: str, caller: str) -> Any:
    """``config``'s value at the attribute path ``dotted``, which must not be None.

    Args:
        config: the resolved config (see ``config_data``).
        dotted: the path, e.g. ``'dataloader.load.crop_size'``.
        caller: who reads it, for the message (e.g. ``'LossManager'``).

    Returns:
        The value.

    Raises:
        ValueError: the config lacks the value (or it is None); the message names the path.
    """
    value = config
    for name in dotted.split("."):
        value = getattr(value, name, None)
        if value is None:
            raise ValueError(
                f"{caller} reads config.{dotted}, which this config lacks (a section or "
                "field missing from the config file is None); the default config "
                f"({default_config_path()}) shows every setting.")
    return value
