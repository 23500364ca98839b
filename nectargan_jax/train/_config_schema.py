"""How the config's typed sections meet the reference's JSON: read, checked, written.

A section is a frozen dataclass whose field names are the JSON keys. Three functions
walk any section by its fields' types:

- ``lay(section, given, where)`` lays a JSON object over a section: unknown keys are
  refused, ints become floats where a float is expected, lists become tuples, objects
  become sections; an optional section (``X | None``, an extension) is switched off by
  null and otherwise laid over its current settings (or its defaults). A field made
  with ``read_with(reader, default)`` is read by ``reader`` instead.
- ``check_types(section, where)`` checks every field's type, naming the key path.
- ``to_dict(section)`` writes the JSON object back; an extension field (``extension``)
  is left out while it holds its default, so a config that uses none of them writes
  the reference's keys only.

Values are checked by the sections themselves, when the ``TrainConfig`` holding them is
built; a section alone is a plain record.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import types
import typing
from typing import Any, NoReturn

_EXTENSION = "extension"
_READ = "read"


def extension(default: Any) -> Any:
    """A field the reference's config lacks, left out of the JSON while it is ``default``."""
    return dataclasses.field(default=default, metadata={_EXTENSION: True})


def read_with(reader: Any, default: Any) -> Any:
    """A field read from JSON by ``reader(given, key_path)`` instead of by its type."""
    return dataclasses.field(default=default, metadata={_READ: reader})


def fail(path: str, value: Any, accepted: str) -> NoReturn:
    """Raises the config's ValueError: ``config key 'a.b' must be <accepted>, got <value>.``"""
    raise ValueError(f"config key {path!r} must be {accepted}, got {value!r}.")


def type_name(value: Any) -> str:
    return type(value).__name__


def join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_section(kind: Any) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def _optional_section(kind: Any) -> type | None:
    """``X`` for a field typed ``X | None`` with ``X`` a section, else None."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and len(args) == 2 \
            and type(None) in args:
        (inner,) = (arg for arg in args if arg is not type(None))
        return inner if _is_section(inner) else None
    return None


def defaults(cls: type) -> Any:
    """``cls`` with its defaults, a field without one set to None (to be given)."""
    return cls(**{f.name: None for f in dataclasses.fields(cls)
                  if f.default is dataclasses.MISSING
                  and f.default_factory is dataclasses.MISSING})


def lay_fields(cls: type, values: dict[str, Any], given: Any, where: str) -> dict[str, Any]:
    """``values`` (a section's field values) with the JSON object ``given`` laid over."""
    if not isinstance(given, dict):
        raise ValueError(f"config key {where or '<root>'!r} must be an object, got {given!r}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = dict(values)
    for key, value in given.items():
        path = join(where, key)
        if key not in fields:
            raise ValueError(f"unknown config key {path!r}; known keys there: "
                             f"{sorted(fields)}.")
        values[key] = _lay_field(fields[key], _hints(cls)[key], values[key], value, path)
    return values


def lay(section: Any, given: Any, where: str) -> Any:
    """``section`` with the JSON object ``given`` laid over it (not checked further)."""
    if isinstance(given, type(section)):
        return given
    values = {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}
    return dataclasses.replace(section, **lay_fields(type(section), values, given, where))


def _lay_field(field: dataclasses.Field, kind: Any, current: Any, given: Any, path: str
               ) -> Any:
    if _READ in field.metadata:
        return field.metadata[_READ](given, path)
    if _is_section(kind):
        return lay(current, given, path)
    optional = _optional_section(kind)
    if optional is not None:
        if given is None or isinstance(given, optional):
            return given
        known = [f.name for f in dataclasses.fields(optional)]
        if not isinstance(given, dict):
            raise ValueError(f"config key {path!r} must be null (off) or an object with the "
                             f"keys {known}, got {type_name(given)}: {given!r}.")
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(f"unknown config key(s) {[join(path, key) for key in unknown]}; "
                             f"known keys there: {known}.")
        return lay(current if current is not None else defaults(optional), given, path)
    return read_value(kind, given)


def read_value(kind: Any, given: Any) -> Any:
    """A JSON value as a field of type ``kind`` holds it: an int as a float where a float
    is expected, a list as a tuple; anything else as it is (``check_types`` judges it)."""
    if kind is float and _is_int(given):
        return float(given)
    if isinstance(given, list):
        return tuple(given)
    return given


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


_CHECKS = {bool: lambda v: isinstance(v, bool), int: _is_int, float: is_number,
           str: lambda v: isinstance(v, str),
           tuple[int, ...]: lambda v: isinstance(v, (tuple, list)) and all(map(_is_int, v))}


def check_types(section: Any, where: str) -> None:
    """Checks the type of every plain field (bool, int, float, str, a tuple of ints) of
    ``section`` and of the sections in it, naming the key path of the first wrong one.
    Other fields (numbers or schedules, optional values) are checked by their section."""
    for field in dataclasses.fields(section):
        kind, value = _hints(type(section))[field.name], getattr(section, field.name)
        path = join(where, field.name)
        if _is_section(kind) or (_optional_section(kind) and value is not None):
            check_types(value, path)
        elif kind in _CHECKS and not _CHECKS[kind](value):
            default = _json(field.default)
            raise ValueError(f"config key {path!r} must be of type {type_name(default)} like "
                             f"the default {default!r}, got {type_name(_json(value))}: "
                             f"{_json(value)!r}.")


def to_dict(section: Any) -> dict[str, Any]:
    """The section as the JSON object it is read from (extensions at their default left out)."""
    out = {}
    for field in dataclasses.fields(section):
        value = getattr(section, field.name)
        if field.metadata.get(_EXTENSION) and value == field.default:
            continue
        out[field.name] = _json(value)
    return out


def _json(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return value.to_dict() if hasattr(value, "to_dict") else to_dict(value)
    if isinstance(value, tuple):
        return [_json(item) for item in value]
    return value
