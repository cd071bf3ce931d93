"""Log lines for operators: JSON output, fields from the operation at hand, no expected tracebacks.

``configure(json_output=True)`` (the CLI's ``--log-json``) prints one JSON
object per line. ``OperationFields`` (an ``observe`` hook) puts the
projection, the event id and checkpoint being published, or the consumer and
message id into every record logged during that operation, as ``extra``
fields, without touching the code that logs. pika logs a traceback for every
failed connection attempt, which the relay retries anyway: ``quiet_pika``
keeps those to one line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import orjson

from eventsourcing_core import observe
from eventsourcing_core.observe import Observation

_fields: ContextVar[dict[str, str] | None] = ContextVar("escore_log_fields", default=None)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line |= {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line["error"] = f"{type(error).__name__}: {error}"
        return orjson.dumps(line, default=str).decode()


class _AddFields(logging.Filter):
    """Copies the current operation's fields onto a record (as ``extra`` would)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _fields.get()
        if fields:
            for key, value in fields.items():
                if not hasattr(record, key):
                    setattr(record, key, value)
        return True


_CONNECTING = "pika.adapters.utils."
"""pika's connection workflow: four or five records per failed attempt, which the relay
retries and reports itself (``broker unreachable ...; reconnecting``)."""


class _OneLine(logging.Filter):
    """pika's records: the connection workflow's dropped, the others without a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("pika"):
            return True
        if record.name.startswith(_CONNECTING):
            return False
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()} ({record.exc_info[1]!r})"
            record.args = None
        record.exc_info = None
        record.exc_text = None
        return True


class OperationFields:
    """An ``observe`` hook: the fields of the operation being run, for every log record in it."""

    def observe(self, observation: Observation) -> Any:
        return _with_fields(_fields_of(observation))

    def count(self, name: str, labels: dict[str, str]) -> None:
        """Nothing to log."""


@contextmanager
def _with_fields(fields: dict[str, str] | None) -> Iterator[None]:
    if not fields:
        yield
        return
    token = _fields.set(fields)
    try:
        yield
    finally:
        _fields.reset(token)


def _fields_of(observation: Observation) -> dict[str, str] | None:
    kind, target, args = observation.kind, observation.target, observation.args
    if kind == "batch":
        return {"projection": target.name}
    if kind == "publish" and len(args) > 1:
        event = args[1]
        return {
            "projection": target.name,
            "event_id": str(event.event_id),
            "checkpoint": str(event.checkpoint),
            "stream_id": event.stream_id,
        }
    if kind == "consume" and len(args) > 3:
        return {"consumer": getattr(target, "_name", ""), "message_id": str(args[3].message_id)}
    return None


def quiet_pika(handler: logging.Handler) -> None:
    """On ``handler``: pika's connection attempts unlogged, its other records one line each.

    A handler filter: filters on the ``pika`` logger would miss its child loggers' records.
    """
    if not any(isinstance(f, _OneLine) for f in handler.filters):
        handler.addFilter(_OneLine())


def configure(*, json_output: bool, level: int = logging.INFO) -> None:
    """Log to stderr (as JSON lines if asked), with operation fields and a quiet pika."""
    handler = logging.StreamHandler()
    if json_output:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    handler.addFilter(_AddFields())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    quiet_pika(handler)
    observe.install(_OPERATION_FIELDS)


_OPERATION_FIELDS = OperationFields()
