"""JSON encoding of payloads with orjson, refusing what cannot round-trip.

UUIDs, datetimes, dates, enums and dataclasses are written as JSON (and read
back as strings and objects: the store keeps JSON, not Python types). Anything
else (sets, Decimals, bytes, arbitrary objects, non-string keys) is refused
with a ``SerializationError`` naming the event and the offending type, before
any connection is opened. So are NaN and Infinity: JSON has no form for them and
orjson would write ``null``, silently changing the value.
"""

from __future__ import annotations

import dataclasses
import math
from enum import Enum
from typing import Any

import orjson

from eventsourcing_core.errors import SerializationError

_NUL_ESCAPE = "\\u0000"


def dumps(value: Any) -> str:
    """Encode ``value`` as JSON text, or raise ``SerializationError`` saying why not."""
    try:
        # Searched as str, not bytes: on CPython 3.11 that is 2-3 times faster.
        text = orjson.dumps(value).decode()
    except TypeError as exc:
        raise SerializationError(f"is not JSON-serializable: {exc}") from None
    if _NUL_ESCAPE in text:
        # PostgreSQL's jsonb cannot hold U+0000; refuse it here, not mid-transaction.
        raise SerializationError("contains a NUL character (U+0000), which cannot be stored")
    # orjson writes NaN and Infinity as null; only then is the value walked
    # again, so a payload without null (most of them) costs one search.
    if "null" in text and _holds_non_finite_float(value):
        where = _non_finite_float(value, "")
        if where is not None:
            raise SerializationError(
                f"contains {where}: NaN and Infinity have no JSON form "
                "(they would be stored as null)"
            )
    return text


def loads(raw: str | bytes) -> Any:
    """Decode JSON text written by ``dumps``."""
    return orjson.loads(raw)


def _holds_non_finite_float(value: Any) -> bool:
    """Whether NaN or an infinity is anywhere in ``value``: a quick walk over plain JSON types.

    ``x - x`` is 0.0 for every finite float and NaN otherwise. Anything but
    the plain types (subclasses, enums, dataclasses) is left to the full walk.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is int or item is None or kind is bool:
            continue
        if kind is float:
            if item - item != 0.0:
                return True
        elif kind is dict:
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif _non_finite_float(item, "") is not None:
            return True
    return False


def _non_finite_float(value: Any, path: str) -> str | None:
    """Where ``value`` holds NaN or an infinity, as orjson would walk it; None if nowhere."""
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r} at {path or 'the top level'}"
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    elif isinstance(value, Enum):
        return _non_finite_float(value.value, path)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = _dataclass_items(value)
    else:
        return None
    for key, item in items:
        found = _non_finite_float(item, f"{path}[{key!r}]")
        if found is not None:
            return found
    return None


def _dataclass_items(value: Any) -> list[tuple[str, Any]]:
    """A dataclass's attributes as orjson writes them: public ones, from __dict__ if any."""
    names = (
        vars(value) if hasattr(value, "__dict__") else [f.name for f in dataclasses.fields(value)]
    )
    return [(name, getattr(value, name)) for name in names if not name.startswith("_")]
