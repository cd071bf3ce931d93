"""The in-process event bus and the background dispatcher."""

from __future__ import annotations

import queue
import threading
from typing import Any

import pytest

from eventsourcing_core import NewEvent
from eventsourcing_core.bus import Dispatcher, DispatcherClosedError, EventBus


def _event(event_type: str = "UserRegistered", **data: Any) -> NewEvent:
    return NewEvent(event_type, data)


def test_handlers_run_in_subscription_order_type_handlers_first() -> None:
    bus, calls = EventBus(), []
    bus.subscribe_all(lambda e: calls.append("all"))
    bus.subscribe("UserRegistered", lambda e: calls.append("first"))
    bus.subscribe("UserRegistered", lambda e: calls.append("second"))
    bus.subscribe("OrderPlaced", lambda e: calls.append("other type"))

    bus.publish(_event())

    assert calls == ["first", "second", "all"]


def test_a_failing_handler_does_not_stop_the_others_and_all_failures_are_raised() -> None:
    bus, calls = EventBus(), []

    def broken(event: NewEvent) -> None:
        raise ValueError("broken handler")

    bus.subscribe("UserRegistered", broken)
    bus.subscribe("UserRegistered", lambda e: calls.append("ran"))
    bus.subscribe_all(broken)

    with pytest.raises(ExceptionGroup) as raised:
        bus.publish(_event())

    assert calls == ["ran"]
    assert [str(e) for e in raised.value.exceptions] == ["broken handler", "broken handler"]


def test_an_error_hook_receives_failures_instead() -> None:
    seen: list[tuple[str, str]] = []
    bus = EventBus(
        on_error=lambda event, handler, error: seen.append((event.event_type, str(error)))
    )

    def divide(event: NewEvent) -> None:
        raise ZeroDivisionError("division by zero")

    bus.subscribe("UserRegistered", divide)

    bus.publish(_event())

    assert seen == [("UserRegistered", "division by zero")]


def test_an_unsubscribed_handler_is_no_longer_called() -> None:
    bus, calls = EventBus(), []

    def handler(event: NewEvent) -> None:
        calls.append(event.event_type)

    bus.subscribe("UserRegistered", handler)
    bus.subscribe_all(handler)
    bus.unsubscribe(handler, "UserRegistered")
    bus.publish(_event())
    bus.unsubscribe(handler)
    bus.publish(_event())

    assert calls == ["UserRegistered"]


def test_closing_the_dispatcher_drains_every_accepted_event() -> None:
    bus, seen = EventBus(), []
    lock = threading.Lock()

    def record(event: NewEvent) -> None:
        with lock:
            seen.append(event.data["n"])

    bus.subscribe_all(record)
    dispatcher = Dispatcher(bus, workers=3, capacity=10)
    for n in range(500):
        dispatcher.submit(_event(n=n))
    dispatcher.close(timeout=10)

    dispatcher.close(timeout=10)  # a second close is harmless

    assert sorted(seen) == list(range(500))
    assert (dispatcher.stats.dispatched, dispatcher.stats.failed) == (500, 0)
    with pytest.raises(DispatcherClosedError):
        dispatcher.submit(_event())


def test_handler_errors_are_counted_and_never_kill_a_worker() -> None:
    bus = EventBus()

    def fail_on_odd(event: NewEvent) -> None:
        if event.data["n"] % 2:
            raise ValueError(f"odd {event.data['n']}")

    bus.subscribe_all(fail_on_odd)
    dispatcher = Dispatcher(bus, workers=1)
    for n in range(10):
        dispatcher.submit(_event(n=n))
    dispatcher.close(timeout=10)

    assert (dispatcher.stats.dispatched, dispatcher.stats.failed) == (5, 5)


def test_a_full_queue_pushes_back_on_the_submitter() -> None:
    bus, started, release = EventBus(), threading.Event(), threading.Event()

    def block(event: NewEvent) -> None:
        started.set()
        release.wait(10)

    bus.subscribe_all(block)
    dispatcher = Dispatcher(bus, workers=1, capacity=1)
    dispatcher.submit(_event(n=0))
    assert started.wait(5), "the worker never took the first event"
    dispatcher.submit(_event(n=1), timeout=5)  # fills the queue

    with pytest.raises(queue.Full):
        dispatcher.submit(_event(n=2), timeout=0.3)

    release.set()
    dispatcher.close(timeout=10)
    assert dispatcher.stats.dispatched == 2
