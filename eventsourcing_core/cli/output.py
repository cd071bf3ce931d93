"""How the command line prints: aligned tables for people, JSON lines for scripts."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

import orjson


def json_lines(rows: Iterable[Mapping[str, Any]], out: TextIO = sys.stdout) -> None:
    """One JSON object per line (see ``json_value`` for what becomes what)."""
    for row in rows:
        out.write(
            orjson.dumps(row, default=json_value, option=orjson.OPT_NON_STR_KEYS).decode() + "\n"
        )


def json_value(value: Any) -> Any:
    """What orjson does not write itself: sets as arrays, Decimals exact, the rest as text.

    orjson writes dataclasses as objects, enums as their values, dates and
    times in ISO 8601, UUIDs and tuples; a set or frozenset becomes an array
    (sorted when its items sort, so the output is stable), a ``Decimal`` a
    string as the event codec writes it (``codec.py``), a mapping an object.
    Anything else falls back to ``str``.
    """
    if isinstance(value, AbstractSet):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO = sys.stdout) -> None:
    """Columns padded to their widest cell; an empty result says so."""
    if not rows:
        out.write("(none)\n")
        return
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    out.write("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    out.write("\n")
    for row in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _cell(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)
