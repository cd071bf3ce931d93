"""An in-process event bus, and a background dispatcher: the source document's EventBus and
SimpleMessageQueue, grown up.

``EventBus.publish`` calls handlers synchronously, in subscription order:
handlers of the event's type, then handlers of every event. A failing
handler does not stop the others; errors go to the ``on_error`` hook if one
is given, else they are raised together at the end as an ``ExceptionGroup``
(so a caller sees every failure, not just the first).

``Dispatcher`` hands events to a bus on worker threads through a bounded
queue: ``submit`` blocks while the queue is full (back-pressure), ``close``
drains what was accepted before it returns. Handler errors are logged and
counted; they never kill a worker.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from eventsourcing_core.errors import EventStoreError

logger = logging.getLogger(__name__)


class HasEventType(Protocol):
    """Anything with an ``event_type``: NewEvent, RecordedEvent, DomainEvent."""

    @property
    def event_type(self) -> str: ...


Handler = Callable[[Any], None]
ErrorHook = Callable[[Any, Handler, Exception], None]


class EventBus:
    """Subscribe handlers by event type or to all events; publish to them in order."""

    def __init__(self, *, on_error: ErrorHook | None = None) -> None:
        self._by_type: dict[str, list[Handler]] = {}
        self._all: list[Handler] = []
        self._on_error = on_error
        self._lock = threading.Lock()

    def subscribe(self, event_type: str, handler: Handler) -> None:
        """Call ``handler`` for every published event of ``event_type``."""
        with self._lock:
            self._by_type.setdefault(event_type, []).append(handler)

    def subscribe_all(self, handler: Handler) -> None:
        """Call ``handler`` for every published event."""
        with self._lock:
            self._all.append(handler)

    def unsubscribe(self, handler: Handler, event_type: str | None = None) -> None:
        """Stop calling ``handler`` (for one event type, or everywhere)."""
        with self._lock:
            lists = (
                [self._by_type.get(event_type, [])]
                if event_type
                else [*self._by_type.values(), self._all]
            )
            for handlers in lists:
                while handler in handlers:
                    handlers.remove(handler)

    def publish(self, event: HasEventType) -> None:
        """Call every matching handler; then report the failures, if any."""
        with self._lock:
            handlers = [*self._by_type.get(event.event_type, ()), *self._all]
        failures: list[Exception] = []
        for handler in handlers:
            try:
                handler(event)
            except Exception as error:
                if self._on_error is not None:
                    self._on_error(event, handler, error)
                else:
                    failures.append(error)
        if failures:
            raise ExceptionGroup(
                f"{len(failures)} handler(s) failed on {event.event_type}", failures
            )


class DispatcherClosedError(EventStoreError):
    """An event was submitted to a dispatcher that is closed."""


@dataclass
class DispatcherStats:
    """What a dispatcher has done."""

    dispatched: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


_STOP = object()


class Dispatcher:
    """Publish events to a bus on background threads, through a bounded queue."""

    def __init__(self, bus: EventBus, *, workers: int = 2, capacity: int = 1000) -> None:
        self._bus = bus
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=capacity)
        self._closed = threading.Event()
        self.stats = DispatcherStats()
        self._threads = [
            threading.Thread(target=self._work, name=f"escore-dispatcher-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, event: HasEventType, *, timeout: float | None = None) -> None:
        """Queue an event; blocks while the queue is full (``queue.Full`` after ``timeout``)."""
        if self._closed.is_set():
            raise DispatcherClosedError("the dispatcher is closed")
        self._queue.put(event, timeout=timeout)

    def close(self, *, timeout: float | None = None) -> None:
        """Refuse new events, dispatch every accepted one, stop the workers (once)."""
        if self._closed.is_set():
            return
        self._closed.set()
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout)

    def _work(self) -> None:
        while (event := self._queue.get()) is not _STOP:
            try:
                self._bus.publish(event)
            except Exception as error:  # logged and counted, never fatal to the worker
                logger.error(
                    "dispatching %s failed: %s", getattr(event, "event_type", event), error
                )
                with self.stats.lock:
                    self.stats.failed += 1
            else:
                with self.stats.lock:
                    self.stats.dispatched += 1


def publish_to(bus: EventBus) -> Callable[[Sequence[Any]], None]:
    """A store ``on_commit`` listener that publishes each committed event on ``bus``."""

    def publish(committed: Sequence[Any]) -> None:
        for event in committed:
            bus.publish(event)

    return publish
