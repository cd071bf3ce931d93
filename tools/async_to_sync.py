"""Generate the synchronous modules from their asynchronous sources.

The async modules (``*_async.py``) are the one source of truth for the store,
the in-memory store and the repository; their sync twins are written by this
script, the way psycopg keeps ``cursor.py`` generated from ``cursor_async.py``.
``tests/test_generated_sync.py`` fails when a checked-in sync module differs
from what this script makes, so the two can never drift.

    python tools/async_to_sync.py            # rewrite every sync module
    python tools/async_to_sync.py --check    # exit 1 if any is out of date

The transform works on tokens, so comments, docstrings and layout survive:
- ``async def`` / ``async with`` / ``async for`` lose ``async``; ``await`` goes;
- names: ``AsyncX`` -> ``X``, ``x_async`` -> ``x``, plus ``RENAMES`` below
  (``asynccontextmanager``, ``__aenter__``, ``asyncio.sleep`` -> ``time.sleep``...);
- ``Awaitable[T]`` -> ``T``;
- a line ending in ``# @sync: CODE`` becomes ``CODE`` (same indent); with no
  CODE the line is dropped. That is the only escape hatch, for the few lines
  that really differ (an import, an awaitable listener).
Then ``ruff check --select I,F401 --fix`` and ``ruff format`` normalise the result.
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MODULES = [
    "eventsourcing_core/store_async.py",
    "eventsourcing_core/memory_async.py",
    "eventsourcing_core/postgres/connection_async.py",
    "eventsourcing_core/postgres/appending_async.py",
    "eventsourcing_core/postgres/keys_async.py",
    "eventsourcing_core/postgres/lifecycle_async.py",
    "eventsourcing_core/postgres/store_async.py",
    "eventsourcing_core/postgres/snapshots_async.py",
    "eventsourcing_core/repository_async.py",
]
"""The async sources; each one's sync twin drops the ``_async`` suffix."""

RENAMES = {
    "asynccontextmanager": "contextmanager",
    "AbstractAsyncContextManager": "AbstractContextManager",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
    "StopAsyncIteration": "StopIteration",
    "aclose": "close",
    "anext": "next",
    "aiter": "iter",
}

_SYNC_MARKER = re.compile(r"#\s*@sync:(?P<code>.*)$")
_ASYNC_PREFIX = re.compile(r"^(?P<underscores>_*)Async(?=[A-Z])")
_ASYNC_SUFFIX = re.compile(r"_async$")

HEADER = (
    "# GENERATED FILE, DO NOT EDIT. Source: {source}\n"
    "# (edit the source, then run `python tools/async_to_sync.py`)\n"
)


def sync_path(source: str) -> str:
    """Where the sync twin of an async source module lives."""
    return _ASYNC_SUFFIX.sub("", source.removesuffix(".py")) + ".py"


def rename(name: str) -> str:
    """The sync spelling of one identifier."""
    if name in RENAMES:
        return RENAMES[name]
    return _ASYNC_SUFFIX.sub("", _ASYNC_PREFIX.sub(r"\g<underscores>", name))


def _apply_markers(text: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        match = _SYNC_MARKER.search(line)
        if match is None:
            lines.append(line)
            continue
        code = match.group("code").strip()
        if code:
            indent = line[: len(line) - len(line.lstrip())]
            lines.append(f"{indent}{code}\n")
    return "".join(lines)


def _edits(text: str) -> list[tuple[tuple[int, int], tuple[int, int], str]]:
    """(start, end, replacement) for every token the transform changes."""
    tokens = [
        t
        for t in tokenize.generate_tokens(io.StringIO(text).readline)
        if t.type not in (tokenize.NL, tokenize.COMMENT)
    ]
    edits = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.type == tokenize.NAME and token.string in ("async", "await"):
            if token.string == "await" or (
                following is not None and following.string in ("def", "with", "for")
            ):
                # drop the keyword and the space after it
                assert following is not None
                edits.append((token.start, following.start, ""))
        elif token.type == tokenize.NAME and token.string == "Awaitable" and following:
            if following.string == "[":
                close = _matching_bracket(tokens, index + 1)
                edits.append((token.start, following.end, ""))
                edits.append((tokens[close].start, tokens[close].end, ""))
        elif token.type == tokenize.NAME and token.string == "asyncio" and _is_sleep(tokens, index):
            edits.append((token.start, token.end, "time"))
        elif token.type == tokenize.NAME:
            new = rename(token.string)
            if new != token.string:
                edits.append((token.start, token.end, new))
        index += 1
    return edits


def _is_sleep(tokens: list[tokenize.TokenInfo], index: int) -> bool:
    return (
        index + 2 < len(tokens)
        and tokens[index + 1].string == "."
        and tokens[index + 2].string == "sleep"
    )


def _matching_bracket(tokens: list[tokenize.TokenInfo], opening: int) -> int:
    depth = 0
    for index in range(opening, len(tokens)):
        if tokens[index].string in "([{" and tokens[index].type == tokenize.OP:
            depth += 1
        elif tokens[index].string in ")]}" and tokens[index].type == tokenize.OP:
            depth -= 1
            if depth == 0:
                return index
    raise ValueError("unbalanced brackets after Awaitable")


def transform(text: str, source: str) -> str:
    """The sync module for async source ``text`` (before formatting)."""
    text = _apply_markers(text)
    lines = text.splitlines(keepends=True)
    for (start_row, start_col), (end_row, end_col), new in sorted(_edits(text), reverse=True):
        if start_row == end_row:
            line = lines[start_row - 1]
            lines[start_row - 1] = line[:start_col] + new + line[end_col:]
        else:
            head = lines[start_row - 1][:start_col]
            tail = lines[end_row - 1][end_col:]
            lines[start_row - 1 : end_row] = [head + new + tail]
    return HEADER.format(source=source) + "".join(lines)


def _ruff() -> str:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if found is None:
        raise RuntimeError("ruff is needed to format generated modules (pip install ruff)")
    return found


def _run_ruff(arguments: list[str], text: str, filename: str) -> str:
    result = subprocess.run(
        [_ruff(), *arguments, "--stdin-filename", filename, "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if result.returncode not in (0, 1) or not result.stdout:
        raise RuntimeError(f"ruff failed on {filename}: {result.stderr}")
    return result.stdout


def generate(source: str) -> str:
    """The formatted sync module generated from the async module at ``source``."""
    text = transform((ROOT / source).read_text(), source)
    target = sync_path(source)
    fix_imports = ["check", "--select", "I,F401", "--fix", "--exit-zero", "--quiet"]
    text = _run_ruff(fix_imports, text, target)
    return _run_ruff(["format", "--quiet"], text, target)


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) every generated module."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale modules")
    options = parser.parse_args(argv)
    stale = []
    for source in MODULES:
        target = ROOT / sync_path(source)
        wanted = generate(source)
        if target.exists() and target.read_text() == wanted:
            continue
        stale.append(sync_path(source))
        if not options.check:
            target.write_text(wanted)
    for path in stale:
        print(f"{'stale' if options.check else 'wrote'}: {path}")
    return 1 if options.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
