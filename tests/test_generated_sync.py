"""The sync store modules are generated from their async sources and must not drift.

``tools/async_to_sync.py`` writes ``store.py``, ``memory.py`` and the rest from
their ``*_async.py`` sources; this test regenerates each one and compares.
After editing an async source, run ``python tools/async_to_sync.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("async_to_sync", ROOT / "tools/async_to_sync.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _generator()


@pytest.mark.parametrize("source", GENERATOR.MODULES)
def test_the_sync_module_is_what_the_generator_makes_of_its_async_source(source: str) -> None:
    target = ROOT / GENERATOR.sync_path(source)

    assert target.read_text() == GENERATOR.generate(source), (
        f"{target.relative_to(ROOT)} is stale or edited by hand: "
        "edit the async source and run `python tools/async_to_sync.py`"
    )


@pytest.mark.parametrize("source", GENERATOR.MODULES)
def test_every_generated_module_says_where_it_comes_from(source: str) -> None:
    text = (ROOT / GENERATOR.sync_path(source)).read_text()

    assert text.startswith(f"# GENERATED FILE, DO NOT EDIT. Source: {source}\n")


def test_the_transform_drops_async_and_renames_async_names() -> None:
    source = (
        "import asyncio  # @sync: import time\n"
        "async def fetch(pool: AsyncPool) -> Awaitable[list[int]]:\n"
        "    async with pool.connection() as conn:\n"
        "        await asyncio.sleep(0.1)\n"
        "        async for row in conn.rows():\n"
        "            await conn.aclose()\n"
        "    return await open_pool_async(AsyncRetrying, _AsyncThing)\n"
    )

    assert GENERATOR.transform(source, "x_async.py").split("\n", 2)[2] == (
        "import time\n"
        "def fetch(pool: Pool) -> list[int]:\n"
        "    with pool.connection() as conn:\n"
        "        time.sleep(0.1)\n"
        "        for row in conn.rows():\n"
        "            conn.close()\n"
        "    return open_pool(Retrying, _Thing)\n"
    )
