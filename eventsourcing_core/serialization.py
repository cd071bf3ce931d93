"""JSON encoding of payloads with orjson, refusing what cannot round-trip.

UUIDs, datetimes, dates, enums and dataclasses are written as JSON (and read
back as strings and objects: the store keeps JSON, not Python types). Anything
else (sets, Decimals, bytes, arbitrary objects, non-string keys) is refused
with a ``SerializationError`` naming the event and the offending type, before
any connection is opened.
"""

from __future__ import annotations

from typing import Any

import orjson

from eventsourcing_core.errors import SerializationError

_NUL_ESCAPE = b"\\u0000"


def dumps(value: Any) -> str:
    """Encode ``value`` as JSON text, or raise ``SerializationError`` saying why not."""
    try:
        encoded = orjson.dumps(value)
    except TypeError as exc:
        raise SerializationError(f"is not JSON-serializable: {exc}") from None
    if _NUL_ESCAPE in encoded:
        # PostgreSQL's jsonb cannot hold U+0000; refuse it here, not mid-transaction.
        raise SerializationError("contains a NUL character (U+0000), which cannot be stored")
    return encoded.decode()


def loads(raw: str | bytes) -> Any:
    """Decode JSON text written by ``dumps``."""
    return orjson.loads(raw)
