"""The in-memory stores' locks: ``RLock`` (threads) and ``AsyncRLock`` (asyncio tasks).

The in-memory store holds its lock for a whole ``transaction()`` block, and
reads inside the block take it again, so it must be reentrant. asyncio has no
reentrant lock; this one is reentrant per task. A plain threading lock would
block the event loop (and deadlock it) while another task's transaction runs.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

RLock = threading.RLock


class AsyncRLock:
    """A lock that the task holding it may take again (``async with`` only)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None
        self._depth = 0

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            self._depth += 1
            return
        await self._lock.acquire()
        self._owner, self._depth = task, 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()
