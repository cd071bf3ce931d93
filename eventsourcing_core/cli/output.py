"""How the command line prints: aligned tables for people, JSON lines for scripts."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO

import orjson


def json_lines(rows: Iterable[Mapping[str, Any]], out: TextIO = sys.stdout) -> None:
    """One JSON object per line (UUIDs and datetimes as strings)."""
    for row in rows:
        out.write(orjson.dumps(row, default=str).decode() + "\n")


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
