# GENERATED FILE, DO NOT EDIT. Source: eventsourcing_core/postgres/keys_async.py
# (edit the source, then run `python tools/async_to_sync.py`)
"""Subject keys in PostgreSQL for crypto-shredding: created on first use, fetched per page.

Appends: a store process caches the keys it has seen (``KeyRing``), so an
append for a known subject costs no extra statement. A subject it does not
know costs one statement before the append (``_ENSURE_KEYS``: insert a fresh
key unless the subject has one, and return the subject's key either way);
it runs in autocommit, or in the caller's transaction for ``store.transaction()``,
and holds no transaction id while anything outside the database runs.

Reads: one statement per page that holds sealed events fetches exactly the
keys of its subjects; reads never trust the cache, so a key that another
process destroyed is never used to open a field again.

Why a cache cannot resurrect a forgotten key: entries only ever come from
rows read from the table, and nothing writes a cached key back (a new key
is always freshly random); keys fetched before an eviction (a ``forget`` in
this process) are not cached after it, so a fetch racing that forget cannot
put the destroyed key back. A process that cached a key before another
process forgot the subject may still seal new events under it until it
learns of the forget (its own ``forget``, or a read that found the key gone,
evicts the entry); those fields read as redacted, since the key is gone from
the database. So a forget concurrent with appends errs towards erasure.

This async module is the source: ``keys.py`` (``KeyRing``, for the sync
store) is generated from it by ``tools/async_to_sync.py``. Only the three
statements are awaited; the cache is plain code, guarded by a thread lock
held for no I/O, so it never blocks the event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID

import psycopg

from eventsourcing_core import crypto
from eventsourcing_core.crypto import SubjectKey
from eventsourcing_core.events import RecordedEvent
from eventsourcing_core.postgres.statements import render
from eventsourcing_core.validation import PreparedAppend

DEFAULT_CACHE_SIZE = 10_000
DEFAULT_CACHE_SECONDS = 60.0
"""How long appends use a cached key before fetching it again.

It bounds how long a process that cached a subject's key goes on sealing new
fields under it after another process forgot the subject (those fields read
as redacted; after the bound the process finds the key gone and makes a new
one). Reads never use the cache.
"""
_ENSURE_ATTEMPTS = 5

# Insert the offered keys where a subject has none, and return every wanted
# subject's key: a new one (from RETURNING) or the one already there (from
# the statement's snapshot). A key committed by a racing process after that
# snapshot is in neither: the caller runs the statement again.
_ENSURE_KEYS = """
WITH offered AS (
    SELECT * FROM unnest(%(subjects)s::text[], %(key_ids)s::uuid[], %(secrets)s::bytea[])
        AS o (subject, key_id, secret)
), created AS (
    INSERT INTO {schema}.subject_keys AS k (subject, key_id, secret)
    SELECT subject, key_id, secret FROM offered
    ON CONFLICT (subject) DO NOTHING
    RETURNING k.subject, k.key_id, k.secret
)
SELECT subject, key_id, secret FROM created
UNION ALL
SELECT k.subject, k.key_id, k.secret FROM {schema}.subject_keys AS k
 WHERE k.subject = ANY(%(subjects)s::text[])
"""

_FETCH_KEYS = """
SELECT subject, key_id, secret FROM {schema}.subject_keys WHERE subject = ANY(%s::text[])
"""

_FORGET = "SELECT {schema}.forget_subject(%s, %s)"


class KeyRing:
    """One store's subject keys: a bounded cache for appends, fresh fetches for reads."""

    def __init__(
        self,
        schema: str,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ensure = render(_ENSURE_KEYS, schema)
        self._fetch = render(_FETCH_KEYS, schema)
        self._forget = render(_FORGET, schema)
        self._cache: dict[str, tuple[SubjectKey, float]] = {}  # the key, when it was fetched
        self._cache_size = cache_size
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        # Bumped by every eviction: keys fetched before one are not cached after
        # it (a fetch that raced a forget in this process may hold the key it
        # destroyed; the forget's eviction came first or the fetch is not kept).
        self._evictions = 0

    def seal(
        self,
        conn: psycopg.Connection[Any],
        appends: list[PreparedAppend],
        *,
        remember: bool = True,
    ) -> list[PreparedAppend]:
        """The appends with their personal fields sealed (keys made on ``conn`` if new).

        ``remember=False`` inside a caller's transaction: a key made there is
        cached only once committed, and that transaction may still roll back.
        """
        if not crypto.has_personal(appends):
            return appends
        keys = self.for_append(conn, crypto.subjects_of(appends), remember=remember)
        return crypto.seal_appends(appends, keys)

    def seal_from_cache(self, appends: list[PreparedAppend]) -> list[PreparedAppend] | None:
        """The appends sealed with cached keys alone, or None if a subject's key is not cached.

        The common case (a subject this process has written before) needs no
        connection at all: the append's own statement is the only one.
        """
        subjects = crypto.subjects_of(appends)
        keys = self._cached(subjects)
        if len(keys) < len(subjects):
            return None
        return crypto.seal_appends(appends, keys)

    def for_append(
        self, conn: psycopg.Connection[Any], subjects: set[str], *, remember: bool = True
    ) -> dict[str, SubjectKey]:
        """Each subject's key: from the cache, else the table's, else a new one."""
        keys = self._cached(subjects)
        missing = sorted(subjects - keys.keys())  # one lock order for racing inserters
        for _ in range(_ENSURE_ATTEMPTS):
            if not missing:
                break
            since = self._evictions
            offered = [SubjectKey.new(subject) for subject in missing]
            params = {
                "subjects": missing,
                "key_ids": [key.key_id for key in offered],
                "secrets": [key.secret for key in offered],
            }
            cursor = conn.execute(self._ensure, params)
            rows = cursor.fetchall()
            found = self._remember(rows, since) if remember else _keys_of(rows)
            keys.update(found)
            missing = [subject for subject in missing if subject not in found]
        if missing:
            raise RuntimeError(f"no key could be made for subjects {missing!r}")
        return keys

    def open(
        self, conn: psycopg.Connection[Any], events: list[RecordedEvent]
    ) -> list[RecordedEvent]:
        """A page of events with personal fields opened (or redacted), one key fetch at most."""
        subjects = crypto.sealed_subjects(events)
        if not subjects:
            return events
        since = self._evictions
        cursor = conn.execute(self._fetch, [sorted(subjects)])
        rows = cursor.fetchall()
        keys = self._remember(rows, since)
        self.evict(subject for subject in subjects if subject not in keys)
        return crypto.open_events(events, keys)

    def forget(self, conn: psycopg.Connection[Any], subject: str, operation: UUID) -> bool:
        """Destroy ``subject``'s key in one transaction; whether there was one.

        ``operation`` identifies the call: an attempt repeated with it (after a
        reply lost past COMMIT) answers as the first did, recording nothing more.
        """
        self.evict([subject])
        cursor = conn.execute(self._forget, [subject, operation])
        row = cursor.fetchone()
        self.evict([subject])  # a racing append may have cached it meanwhile
        return bool(row and row[0])

    def _cached(self, subjects: set[str]) -> dict[str, SubjectKey]:
        """The cached keys of ``subjects`` fetched less than ``cache_seconds`` ago."""
        oldest = self._clock() - self._cache_seconds
        with self._lock:
            entries = [self._cache.get(subject) for subject in subjects]
        return {entry[0].subject: entry[0] for entry in entries if entry and entry[1] > oldest}

    def evict(self, subjects: Iterable[str]) -> None:
        """Drop cached keys (forgotten here, or found gone on a read)."""
        gone = list(subjects)
        if not gone:
            return
        with self._lock:
            self._evictions += 1
            for subject in gone:
                self._cache.pop(subject, None)

    def _remember(self, rows: list[tuple[Any, ...]], since: int) -> dict[str, SubjectKey]:
        """The keys of ``rows``, cached unless an eviction came after ``since`` (their fetch)."""
        keys = _keys_of(rows)
        fetched = self._clock()
        with self._lock:
            if self._evictions != since:
                return keys
            for subject, key in keys.items():
                # Dropped first: if the table holds another key than the cached
                # one, the cached one was destroyed; the table's is the truth.
                # Either way the entry goes to the end of the eviction order.
                self._cache.pop(subject, None)
                while len(self._cache) >= self._cache_size:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[subject] = (key, fetched)
        return keys


def _keys_of(rows: list[tuple[Any, ...]]) -> dict[str, SubjectKey]:
    return {row[0]: SubjectKey(row[0], row[1], bytes(row[2])) for row in rows}
