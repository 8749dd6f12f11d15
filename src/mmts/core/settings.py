"""Settings: frozen dataclasses whose every key states its meaning, type and allowed range.

Each configuration table of an experiment is a dataclass whose fields are declared with
:func:`option`. That one declaration gives the default, the documentation (``mmts config
reference``) and the check: :func:`check_settings` (called from ``__post_init__``) refuses a
value of the wrong type or out of range whether it came from a TOML file or from Python, and
:func:`build_table` refuses unknown keys. Every message names the table, the key, what was
expected and what was given: ``[train] epochs: expected an integer >= 1, got 'four' (str)``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

#: The attribute naming a settings class's TOML table (``[train]``).
TABLE_ATTRIBUTE = "TABLE"


class SettingsError(ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""


def option(
    default: Any = dataclasses.MISSING,
    *,
    doc: str,
    factory: Callable[[], Any] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple[Any, ...] | Callable[[], Iterable[Any]] | None = None,
    check: Callable[[Any], str | None] | None = None,
) -> Any:
    """Declare a setting: its default (or ``factory``), what it means and what it may be.

    ``ge``/``gt``/``le``/``lt`` bound a number (every element of a tuple, every value of a
    table); ``choices`` lists the allowed values (or a callable returns them: a registry that
    grows); ``check`` returns a complaint or ``None``.
    """
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "check": check}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None))
    if origin is tuple:
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return f"a table of {_describe(args[1]).removeprefix('a ').removeprefix('an ')}s"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, str(hint)
    )


def _optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def _wanted(hint: Any, meta: typing.Mapping[str, Any]) -> str:
    """Say what a key takes, in words: ``a number > 0 (or leave it out)``."""
    text = f"{_describe(hint)} {_bounds_text(meta)}".strip()
    return text + (" (or leave it out)" if _optional(hint) else "")


def _conforms(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(float(value))
        )
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        return isinstance(value, tuple) and all(_conforms(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _conforms(k, args[0]) and _conforms(v, args[1]) for k, v in value.items()
        )
    return isinstance(value, hint)


def allowed_choices(meta: typing.Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Return a setting's allowed values, asking the callable that lists them where there is one."""
    choices = meta.get("choices")
    return tuple(choices()) if callable(choices) else choices


def _bounds_text(meta: typing.Mapping[str, Any]) -> str:
    parts = [f"{op} {meta[key]:g}" for key, op in (("ge", ">="), ("gt", ">"), ("le", "<="),
                                                   ("lt", "<")) if meta.get(key) is not None]  # fmt: skip
    choices = allowed_choices(meta)
    if choices:
        parts.append("one of " + ", ".join(repr(c) for c in choices))
    return " and ".join(parts)


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, tuple):
        return [float(v) for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if isinstance(value, dict):
        return [float(v) for v in value.values() if isinstance(v, (int, float))]
    return []


def _in_bounds(x: float, meta: typing.Mapping[str, Any]) -> bool:
    ge, gt, le, lt = (meta.get(k) for k in ("ge", "gt", "le", "lt"))
    return not (
        (ge is not None and x < ge)
        or (gt is not None and x <= gt)
        or (le is not None and x > le)
        or (lt is not None and x >= lt)
    )


def table_of(cls: type[Any]) -> str:
    """Return the TOML table a settings class is read from."""
    return str(getattr(cls, TABLE_ATTRIBUTE, cls.__name__))


def check_settings(obj: Any) -> None:
    """Raise :class:`SettingsError` for the first field of ``obj`` of the wrong type or range."""
    cls = type(obj)
    hints = _hints(cls)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        where = f"[{table_of(cls)}] {f.name}"
        hint = hints[f.name]
        wanted = _wanted(hint, f.metadata)
        if not _conforms(value, hint):
            raise SettingsError(
                f"{where}: expected {wanted}, got {value!r} ({type(value).__name__})"
            )
        choices = allowed_choices(f.metadata)
        if choices and value is not None:
            values = value if isinstance(value, tuple) else (value,)
            bad = [v for v in values if v not in choices]
            if bad:
                raise SettingsError(f"{where}: expected {_bounds_text(f.metadata)}, got {bad[0]!r}")
        if not all(_in_bounds(x, f.metadata) for x in _numbers(value)):
            raise SettingsError(f"{where}: expected {wanted}, got {value!r}")
        check = f.metadata.get("check")
        complaint = check(value) if check is not None and value is not None else None
        if complaint:
            raise SettingsError(f"{where}: {complaint}, got {value!r}")


def _coerce(value: Any, hint: Any) -> Any:
    """TOML's shapes to the field's: lists to tuples, integers to floats where a number is due."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is not type(None) and _conforms(_coerce(value, arg), arg):
                return _coerce(value, arg)
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin is tuple and isinstance(value, list):
        return tuple(_coerce(v, args[0]) for v in value)
    if origin is dict and isinstance(value, dict):
        return {k: _coerce(v, args[1]) for k, v in value.items()}
    return value


def build_table(cls: type[Any], values: Any, where: str | None = None) -> Any:
    """Build settings ``cls`` from a TOML table: unknown keys, wrong types, bad ranges refused."""
    where = where or table_of(cls)
    if not isinstance(values, dict):
        raise SettingsError(f"[{where}] must be a table of keys, got {values!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SettingsError(
            f"unknown key(s) {unknown} in [{where}]; known keys are {sorted(known)}"
        )
    hints = _hints(cls)
    return cls(**{k: _coerce(v, hints[k]) for k, v in values.items()})


def reference(cls: type[Any]) -> list[dict[str, str]]:
    """One row per key of settings ``cls``: name, type, default, allowed range, meaning."""
    hints = _hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        rows.append({
            "key": f.name, "type": _describe(hints[f.name]) + (" (optional)" if _optional(hints[f.name]) else ""),
            "default": toml_value(default),
            "allowed": _bounds_text(f.metadata), "doc": str(f.metadata.get("doc", "")),
        })  # fmt: skip
    return rows


def toml_value(value: Any) -> str:
    """Write a value as it would stand in the TOML file."""
    if value is dataclasses.MISSING:
        return "(required)"
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    return repr(value)
