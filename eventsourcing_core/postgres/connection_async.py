"""Connection pooling and the retry policy for transient failures.

What is retried, and why it is safe:
- reads, always: they change nothing;
- appends, because every event carries its id: if the connection broke
  after the server committed, the retry finds the same events recorded and
  returns the first append's result instead of writing them twice;
- never a caller's own ``transaction()`` block: only the caller knows
  whether its other work can be repeated.

This async module is the source of ``connection.py`` (tools/async_to_sync.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
import psycopg
import psycopg_pool
from psycopg.types.json import set_json_loads
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from eventsourcing_core.postgres.errors import is_transient

T = TypeVar("T")


async def configure_connection(connection: psycopg.AsyncConnection[Any]) -> None:
    """Set up a new pooled connection: decode jsonb with orjson."""
    set_json_loads(orjson.loads, connection)


async def open_pool(
    dsn: str,
    *,
    min_size: int,
    max_size: int,
    timeout: float,
) -> psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
    """A pool of autocommit connections, opened and checked before returning.

    Autocommit, so a single append is one round trip (the append function runs
    in its own implicit transaction); multi-statement work uses
    ``connection.transaction()``.
    """
    pool: psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[Any]] = (
        psycopg_pool.AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True},
            configure=configure_connection,
            timeout=timeout,
            open=False,
            name="eventsourcing_core",
        )
    )
    await pool.open(wait=True, timeout=timeout)
    return pool


class AsyncRetryPolicy:
    """Retry transient connection failures with jittered exponential backoff."""

    def __init__(
        self,
        pool: psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        *,
        attempts: int = 5,
        max_delay: float = 30.0,
    ) -> None:
        self._pool = pool
        self._attempts = attempts
        self._max_delay = max_delay

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation``, again on a transient failure, until it succeeds or we give up.

        The first try runs directly: building tenacity's retry state costs more
        than a fast query, and most calls never fail.
        """
        try:
            return await operation()
        except Exception as exc:
            if not is_transient(exc):
                raise
        await self._drop_broken_connections()
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self._attempts - 1) | stop_after_delay(self._max_delay),
            wait=wait_random_exponential(multiplier=0.05, max=2.0),
            before_sleep=self._drop_broken_connections,
            reraise=True,
        )
        return await retrying(operation)

    async def _drop_broken_connections(self, state: RetryCallState | None = None) -> None:
        # After a server restart every idle connection is dead; find them now
        # rather than spending one retry on each.
        await self._pool.check()
