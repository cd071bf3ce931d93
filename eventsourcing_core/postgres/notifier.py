"""Wake projection workers when events are appended: NOTIFY after commit, coalesced.

Why not NOTIFY inside the append's transaction: at commit PostgreSQL takes a
cluster-wide lock for every transaction that notified, which would serialize
the very writers the global log was designed to keep concurrent. Instead the
store pokes this notifier after a commit; a background thread sends one
``NOTIFY`` on its own connection for every burst of pokes (at most one per
``min_interval``). Notifications are only a wake-up: a worker that misses one
(no listener yet, a dropped connection, a writer that is not this store)
still polls.

What keeps the wake-up cheap for the writers:
- a poke is one attribute test while a notification is already due (only the
  first poke of a burst wakes the thread);
- the notifying transaction commits with ``synchronous_commit = off``: a
  ``NOTIFY`` takes a transaction id, and waiting for its commit record to
  reach the disk would cost a WAL flush per notification, competing with the
  appends' own. Losing a notification in a crash loses nothing: workers poll;
- the thread sends the ``NOTIFY`` through libpq directly (psycopg's ``pgconn``,
  which lets go of the GIL while it waits): a cursor would cost about three
  times the CPU (measured: 10 us against 33 us per notification), paid by the
  process once per burst, which for one writer is nearly every append.

A connection that broke since the last notification (a server restart, an
idle-session timeout) is replaced at once, so that notification is not lost;
if the server cannot be reached, the notification is dropped with a warning
and the next attempt waits ``RETRY_PAUSE`` (one connection attempt a second,
not one per append). A server that stops answering without closing the
connection is given up on after ``_UNANSWERED_MS`` (``tcp_user_timeout``,
unless the connection string sets its own; libpq 12 or newer), so the
thread does not hang on it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import psycopg
from psycopg import pq, sql
from psycopg.conninfo import conninfo_to_dict

logger = logging.getLogger(__name__)

RETRY_PAUSE = 1.0
"""Seconds between attempts while the server cannot be reached (workers poll meanwhile)."""

_UNANSWERED_MS = 10_000
"""How long a sent NOTIFY may go unacknowledged by the server's host (TCP only)."""


def channel_name(schema: str) -> str:
    """The LISTEN/NOTIFY channel of a store's schema."""
    return f"{schema}_events"


class Notifier:
    """Sends a coalesced NOTIFY on a channel after each burst of ``poke`` calls."""

    def __init__(self, dsn: str, schema: str, *, min_interval: float = 0.001) -> None:
        self._dsn = dsn
        self._statement = sql.SQL("NOTIFY {}").format(sql.Identifier(channel_name(schema)))
        self._command = b""  # the statement as bytes, rendered by the first connection
        self._min_interval = min_interval
        self._due = False
        self._poked = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def poke(self) -> None:
        """Ask for a notification soon (cheap; called after every committed append)."""
        # The thread clears _due before it sends, so a poke that finds it set
        # is covered by a notification still to be sent.
        if self._due:
            return
        self._due = True
        if self._thread is None:
            self._start()
        self._poked.set()

    def close(self) -> None:
        """Stop the thread, sending what was asked for first."""
        self._closed.set()
        self._poked.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="escore-notifier", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        connection: psycopg.Connection[Any] | None = None
        while True:
            self._poked.wait()
            self._poked.clear()
            pause = self._min_interval
            if self._due:
                self._due = False
                connection = self._notify(connection)
                if connection is None:
                    pause = RETRY_PAUSE
            if self._closed.is_set():
                break
            self._closed.wait(pause)
        if connection is not None:
            connection.close()

    def _notify(self, connection: psycopg.Connection[Any] | None) -> psycopg.Connection[Any] | None:
        """Send one NOTIFY; the connection to use next time (None after a failure)."""
        if connection is not None:
            try:
                _send(connection, self._command)
                return connection
            except psycopg.Error:
                connection.close()  # broken since the last one: a new connection, once
        fresh: psycopg.Connection[Any] | None = None
        try:
            fresh = psycopg.connect(self._dsn, autocommit=True, **self._timeouts())
            fresh.execute("SET synchronous_commit = off")
            self._command = self._statement.as_bytes(fresh)
            _send(fresh, self._command)
        except psycopg.Error as exc:
            if fresh is not None:
                fresh.close()
            logger.warning("could not notify workers (they will poll): %s", exc)
            return None
        return fresh

    def _timeouts(self) -> dict[str, Any]:
        """``tcp_user_timeout`` unless the connection string sets it (ignored on sockets).

        Not for a libpq older than 12, which refuses the option.
        """
        if "tcp_user_timeout" in conninfo_to_dict(self._dsn) or pq.version() < 120000:
            return {}
        return {"tcp_user_timeout": _UNANSWERED_MS}


def _send(connection: psycopg.Connection[Any], command: bytes) -> None:
    """Run ``command`` (no result rows) through libpq; raise if it failed."""
    result = connection.pgconn.exec_(command)
    if result.status != pq.ExecStatus.COMMAND_OK:
        message = (result.error_message or b"").decode("utf-8", "replace").strip()
        raise psycopg.OperationalError(message or f"{command!r} failed")
