"""A training configuration as a typed YAML file: `meddl train --print-config` writes one, `--config` reads it.

The file holds the fields of the config dataclass (`TrainConfig`) and nothing else. Reading checks each key and
value against the dataclass' annotations, so a mistyped key or a wrong type is one error naming the key, what was
expected and what was found, before any data is loaded.
"""

from __future__ import annotations

import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

from meddl.errors import ConfigError, did_you_mean

_NAMES = {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string",
          dict: "a mapping", list: "a list", tuple: "a list"}
_PLURALS = {int: "integers", float: "numbers", str: "strings"}


def config_yaml(config: Any) -> str:
    """`config` (a config dataclass) as the YAML `read_config` reads back to the same values."""
    import yaml

    from meddl.atomic import plain

    header = (f"# meddl train options, resolved ({type(config).__name__}); train with them: "
              "meddl train --config FILE (flags given as well override the file)\n")
    return header + yaml.safe_dump(plain(config.to_dict()), sort_keys=False, default_flow_style=None,
                                   allow_unicode=True)


def read_config(path: Path, config_class: type) -> dict:
    """The fields of `config_class` that the YAML file at `path` sets, each checked against its type (lists become
    tuples where the field is a tuple)."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"--config {path}: cannot read it ({error.strerror or error})") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        raise ConfigError(f"--config {path}: not valid YAML ({getattr(error, 'problem', None) or error}"
                          + (f" at line {where.line + 1}" if where else "") + ")") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"--config {path}: expected a mapping of train options (key: value), got "
                          f"{_found(values)}")
    types_ = typing.get_type_hints(config_class)
    known = [f.name for f in fields(config_class)]
    checked = {}
    for key, value in values.items():
        if key not in types_:
            hint = did_you_mean(str(key), known)
            raise ConfigError(f"--config {path}: unknown key {key!r}" + (f" ({hint})" if hint else "")
                              + f"; expected some of {', '.join(known)}")
        try:
            checked[key] = _convert(value, types_[key])
        except TypeError:
            raise ConfigError(f"--config {path}: {key}: expected {_describe(types_[key])}, got "
                              f"{_found(value)}") from None
    return checked


def _convert(value: Any, expected: Any) -> Any:
    """`value` as type `expected` (a union, a variadic tuple, dict or a scalar type); TypeError if it is not one."""
    origin, arguments = typing.get_origin(expected), typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        for option in arguments:
            try:
                return _convert(value, option)
            except TypeError:
                continue
        raise TypeError(expected)
    if origin is tuple or expected is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError(expected)
        item = arguments[0] if arguments else Any
        return tuple(value if item is Any else _convert(element, item) for element in value)
    if origin is dict or expected is dict:
        if not isinstance(value, dict):
            raise TypeError(expected)
        return dict(value)
    if expected is type(None):
        if value is not None:
            raise TypeError(expected)
        return None
    if expected is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 3e-3 (no dot) as text; a number was meant
            try:
                return float(value)
            except ValueError:
                pass
        raise TypeError(expected)
    if expected in (bool, int, str) and type(value) is expected:
        return value
    raise TypeError(expected)


def _describe(expected: Any) -> str:
    origin, arguments = typing.get_origin(expected), typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(option) for option in arguments)
    if origin is tuple and arguments and arguments[0] in _PLURALS:
        return f"a list of {_PLURALS[arguments[0]]}"
    return _NAMES.get(origin or expected, getattr(expected, "__name__", str(expected)))


def _found(value: Any) -> str:
    return "null" if value is None else f"{value!r} ({_NAMES.get(type(value), type(value).__name__)})"
