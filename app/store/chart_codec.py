"""A kept chart (``EncounterContext``) as JSON and back, exactly.

Driven by the dataclasses' own type hints, so a field added to the chart is kept without
touching this file. Reading refuses anything that does not fit the hints with
:class:`ChartCodecError` (never a half chart): the cache then drops the entry and fetches it
again. ``FORMAT`` versions the layout; an entry of another format is dropped the same way.
"""

from __future__ import annotations

import dataclasses
import json
import types
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from app.domain.context import EncounterContext

FORMAT = 1


class ChartCodecError(ValueError):
    """The kept chart cannot be read back as a whole."""


def chart_to_json(context: EncounterContext) -> bytes:
    data = {"format": FORMAT, "chart": _encode(context)}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def chart_from_json(raw: bytes) -> EncounterContext:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChartCodecError("the kept chart is not JSON") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ChartCodecError("the kept chart has another format")
    chart = _decode(EncounterContext, data.get("chart"))
    assert isinstance(chart, EncounterContext)
    return chart


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"a kept chart cannot hold {type(value).__name__}")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _decode(hint: Any, value: Any, typevars: dict[Any, Any] | None = None) -> Any:
    typevars = typevars or {}
    if isinstance(hint, TypeVar):
        return _decode(typevars[hint], value)
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in get_args(hint):
            return None
        real = [a for a in get_args(hint) if a is not type(None)]
        if len(real) != 1:
            raise ChartCodecError(f"cannot read a value of {hint}")
        return _decode(real[0], value, typevars)
    if origin is tuple:
        (item, *_rest) = get_args(hint)
        return tuple(_decode(item, v, typevars) for v in _expect(value, list))
    if isinstance(origin, type) and dataclasses.is_dataclass(origin):
        parameters = getattr(origin, "__parameters__", ())
        bound = dict(zip(parameters, get_args(hint), strict=True))
        return _dataclass(origin, value, bound)
    if isinstance(hint, type):
        return _leaf(hint, value, typevars)
    raise ChartCodecError(f"cannot read a value of {hint}")


def _leaf(hint: type, value: Any, typevars: dict[Any, Any]) -> Any:
    if dataclasses.is_dataclass(hint):
        return _dataclass(hint, value, typevars)
    try:
        if issubclass(hint, Enum):
            return hint(value)
        if hint is datetime:
            return datetime.fromisoformat(_expect(value, str))
        if hint is date:
            return date.fromisoformat(_expect(value, str))
        if hint is Decimal:
            return Decimal(_expect(value, str))
    except (ValueError, InvalidOperation) as exc:
        raise ChartCodecError(f"a {hint.__name__} of the kept chart cannot be read") from exc
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return _expect(value, hint)


def _dataclass(cls: type, value: Any, typevars: dict[Any, Any]) -> Any:
    fields = _expect(value, dict)
    hints = _hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    if set(fields) - known:
        raise ChartCodecError(f"the kept {cls.__name__} has fields this version does not know")
    try:
        return cls(**{name: _decode(hints[name], v, typevars) for name, v in fields.items()})
    except TypeError as exc:  # a required field missing
        raise ChartCodecError(f"the kept {cls.__name__} is incomplete") from exc


def _expect(value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ChartCodecError(f"the kept chart has a {type(value).__name__} for a {kind.__name__}")
    return value
