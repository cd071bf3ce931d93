"""The instrumentation hook: how metrics and traces see the store, projections and relay.

Nothing here imports a metrics or tracing library. Instrumented functions carry
``@observed(kind)``; while no hook is installed (the default) that decorator
costs one global lookup and one extra call per operation, not per event.
``eventsourcing_core.integrations.metrics`` and ``.tracing`` install hooks.

A hook sees an operation as a context manager around it (``Hook.observe``):
it learns the kind (``append``, ``read``, ``load``, ``execute``, ``batch``,
``publish``, ``consume``), the object and arguments, and afterwards the
``Observation`` (how many events, whether an append was a retry) or the
exception. A tracing hook may replace the arguments (``Observation.args``),
to carry its trace context in the events' metadata.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class Observation:
    """What a hook learns about one operation while it runs."""

    __slots__ = ("args", "count", "kind", "kwargs", "outcome", "result", "target")

    def __init__(self, kind: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        self.kind = kind
        self.target = target
        self.args = args
        self.kwargs = kwargs
        self.count: int | None = None
        """Events appended, read, applied or published (when the operation returned them)."""
        self.outcome = "ok"
        """``ok``, or what the store noticed: ``idempotent_retry`` for a recognised retry."""
        self.result: Any = None
        """What the operation returned (set before the hooks' contexts exit)."""


class Hook(Protocol):
    """Something that watches operations: a metrics exporter, a tracer."""

    def observe(self, observation: Observation) -> AbstractContextManager[None]:
        """A context around the operation; exceptions pass through it."""

    def count(self, name: str, labels: dict[str, str]) -> None:
        """A plain occurrence (a message dead-lettered, a redelivery)."""


_hooks: tuple[Hook, ...] = ()
_current: ContextVar[Observation | None] = ContextVar("escore_observation", default=None)


def install(hook: Hook) -> None:
    """Start telling ``hook`` about every operation (in every thread)."""
    global _hooks
    if hook not in _hooks:
        _hooks = (*_hooks, hook)


def uninstall(hook: Hook) -> None:
    """Stop telling ``hook``; unknown hooks are ignored."""
    global _hooks
    _hooks = tuple(h for h in _hooks if h is not hook)


def installed() -> tuple[Hook, ...]:
    """The hooks told about operations now."""
    return _hooks


def observed(kind: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a method so that installed hooks see its calls as ``kind``."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not _hooks:
                return function(*args, **kwargs)
            return _run_observed(kind, function, args, kwargs)

        return wrapper

    return decorate


def observed_async(
    kind: str,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """``observed`` for a coroutine function: hooks see the awaited call, not its creation."""

    def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(function)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not _hooks:
                return await function(*args, **kwargs)
            with _observing(kind, args, kwargs) as observation:
                result = await function(*observation.args, **observation.kwargs)
                _note_result(observation, result)
                return result

        return wrapper

    return decorate


@contextmanager
def _observing(kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Observation]:
    """The installed hooks' contexts around one operation (the async path's)."""
    observation = Observation(kind, args[0] if args else None, args, kwargs)
    token = _current.set(observation)
    try:
        with ExitStack() as stack:
            for hook in _hooks:
                stack.enter_context(hook.observe(observation))
            yield observation
    finally:
        _current.reset(token)


def _run_observed(
    kind: str, function: Callable[..., R], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> R:
    observation = Observation(kind, args[0] if args else None, args, kwargs)
    token = _current.set(observation)
    hooks = _hooks
    try:
        if len(hooks) == 1:  # the usual case: no ExitStack to build
            with hooks[0].observe(observation):
                return _call(function, observation)
        with ExitStack() as stack:
            for hook in hooks:
                stack.enter_context(hook.observe(observation))
            return _call(function, observation)
    finally:
        _current.reset(token)


def _call(function: Callable[..., R], observation: Observation) -> R:
    result = function(*observation.args, **observation.kwargs)
    _note_result(observation, result)
    return result


def _note_result(observation: Observation, result: object) -> None:
    observation.result = result
    if observation.count is None:
        observation.count = _count_of(result)


def _count_of(result: object) -> int | None:
    if isinstance(result, list):
        return len(result)
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    return None


def note_outcome(outcome: str) -> None:
    """Tell the operation being observed what happened (``idempotent_retry``); cheap when none."""
    if _hooks:
        observation = _current.get()
        if observation is not None:
            observation.outcome = outcome


def count(name: str, **labels: str) -> None:
    """Tell installed hooks that ``name`` happened once; nothing when none is installed."""
    for hook in _hooks:
        hook.count(name, labels)


@contextmanager
def hooked(hook: Hook) -> Iterator[Hook]:
    """Install ``hook`` for the block (tests, a benchmark's measured side)."""
    install(hook)
    try:
        yield hook
    finally:
        uninstall(hook)
