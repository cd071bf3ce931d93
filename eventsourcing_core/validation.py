"""Argument checks shared by every store backend.

Everything a caller passes is checked and serialized here, before a backend
opens a connection or takes a lock, so that bad input gets the same clear
``InvalidArgumentError`` from every backend and leaves nothing half-written.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing_core import serialization
from eventsourcing_core.errors import InvalidArgumentError, SerializationError
from eventsourcing_core.events import (
    Checkpoint,
    ExpectedVersion,
    Metadata,
    NewEvent,
    PersonalData,
    StreamAppend,
    StreamState,
    category_of,
)

MAX_NAME_LENGTH = 255
"""Longest stream id or event type, in characters."""

MAX_BATCH_SIZE = 10_000
"""Most events in one append; larger imports should be split into batches."""

MAX_BIGINT = 2**63 - 1
"""Largest version, position, transaction id or limit (PostgreSQL's ``bigint``)."""

MAX_INTEGER = 2**31 - 1
"""Largest ``schema_version`` (PostgreSQL's ``integer``)."""

AUDIT_STREAM = "$lifecycle"
"""The store's own stream, where every lifecycle operation (and every forget) is recorded.

Readable like any stream; written only by those operations: appends to it, or to
any stream of its category (``$lifecycle-...``), are refused.
"""

MAX_SCHEMA_NAME_BYTES = 63
"""Longest schema name PostgreSQL keeps (it cuts longer identifiers silently)."""

# A schema name goes into DDL, dollar-quoted function bodies and statements
# with parameters: letters, digits, '_' and inner spaces or '-' only, so no
# '$' (it could end a $$ body), '%' (a placeholder) or quote ever reaches SQL.
_SCHEMA_NAME = re.compile(r"[A-Za-z_](?:[A-Za-z0-9_ -]*[A-Za-z0-9_])?")

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")

# Appends repeat a few event types and mostly carry no metadata: remember what
# was checked and serialized already (the hot path of every append).
_KNOWN_EVENT_TYPES: set[str] = set()
_KNOWN_EVENT_TYPES_LIMIT = 10_000
_NO_METADATA = Metadata()
_NO_METADATA_JSON = serialization.dumps(_NO_METADATA.to_json())


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """A ``NewEvent`` checked and serialized, ready for any backend to write."""

    event_id: UUID
    event_type: str
    schema_version: int
    data: str
    metadata: str
    timestamp: datetime
    personal: PersonalData | None = None
    """Set until the backend encrypts the personal fields (``crypto.seal``), then None."""


class _PreparedEventBuilder:
    """Builds a ``PreparedEvent`` without the frozen dataclass's ``__init__``.

    That ``__init__`` sets each of the seven fields with an ``object.__setattr__``
    call, paid for every event appended (callgrind: about 8k of the 36k client
    instructions that preparing one event takes). Like ``events.metadata_of``: this
    class has PreparedEvent's slots, fills them with plain assignments, then
    becomes an ordinary frozen ``PreparedEvent``.
    """

    __slots__ = PreparedEvent.__slots__

    def __init__(
        self,
        event_id: UUID,
        event_type: str,
        schema_version: int,
        data: str,
        metadata: str,
        timestamp: datetime,
        personal: PersonalData | None,
    ) -> None:
        self.event_id = event_id
        self.event_type = event_type
        self.schema_version = schema_version
        self.data = data
        self.metadata = metadata
        self.timestamp = timestamp
        self.personal = personal
        self.__class__ = PreparedEvent  # type: ignore[assignment]


_prepared_event: Callable[[UUID, str, int, str, str, datetime, PersonalData | None], PreparedEvent]
_prepared_event = _PreparedEventBuilder  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class PreparedAppend:
    """One stream's checked part of an append."""

    stream_id: str
    events: tuple[PreparedEvent, ...]
    expected_version: ExpectedVersion


def check_name(value: object, *, kind: str) -> str:
    """A stream id, event type or category: non-empty UTF-8 text without control characters."""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{kind} must be a str, got {type(value).__name__}: {value!r}")
    if not value.strip():
        raise InvalidArgumentError(f"{kind} must not be empty or blank, got {value!r}")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidArgumentError(
            f"{kind} is {len(value)} characters long; the limit is {MAX_NAME_LENGTH}: "
            f"{value[:40]!r}..."
        )
    if _CONTROL_CHARACTERS.search(value):
        raise InvalidArgumentError(
            f"{kind} must not contain NUL or other control characters: {value!r}"
        )
    if not value.isascii() and not _is_utf8(value):
        raise InvalidArgumentError(
            f"{kind} must be valid Unicode text, got a lone surrogate in {value!r}"
        )
    return value


def _is_utf8(value: str) -> bool:
    """Whether ``value`` can be encoded as UTF-8 (lone surrogates cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_schema(value: object) -> str:
    """A PostgreSQL schema name for the store: a plain identifier of at most 63 bytes."""
    if isinstance(value, str):
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_SCHEMA_NAME_BYTES:
            raise InvalidArgumentError(
                f"schema name is {size} bytes long; PostgreSQL keeps {MAX_SCHEMA_NAME_BYTES}: "
                f"{value[:40]!r}..."
            )
    name = check_name(value, kind="schema")
    if not _SCHEMA_NAME.fullmatch(name):
        raise InvalidArgumentError(
            "schema name must start with a letter or '_' and hold only letters, digits, '_', "
            f"and inner spaces or '-', got {name!r}"
        )
    if name.startswith("pg_"):
        raise InvalidArgumentError(f"schema names starting with 'pg_' are reserved: {name!r}")
    return name


def check_stream_id(stream_id: object) -> str:
    """A valid stream id, or ``InvalidArgumentError``."""
    return check_name(stream_id, kind="stream id")


def check_expected_version(expected: object) -> ExpectedVersion:
    """An exact version (int >= 0) or a ``StreamState``; bools and strings are refused."""
    if isinstance(expected, StreamState):
        return expected
    if isinstance(expected, int) and not isinstance(expected, bool):
        if expected < 0:
            raise InvalidArgumentError(
                f"expected_version must be >= 0 (0: the stream must not exist), got {expected}"
            )
        if expected > MAX_BIGINT:
            raise InvalidArgumentError(
                f"expected_version must be at most {MAX_BIGINT}, got {expected}"
            )
        return expected
    raise InvalidArgumentError(
        "expected_version must be an int >= 0 or one of ANY, NO_STREAM, STREAM_EXISTS; "
        f"got {type(expected).__name__}: {expected!r}"
    )


def check_positive(value: object, *, name: str, maximum: int = MAX_BIGINT) -> int:
    """A positive int up to ``maximum`` (limits, versions to read from)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidArgumentError(f"{name} must be an int >= 1, got {value!r}")
    if value > maximum:
        raise InvalidArgumentError(f"{name} must be at most {maximum}, got {value!r}")
    return value


def check_optional_positive(value: object, *, name: str) -> int | None:
    """``None`` or a positive int up to ``MAX_BIGINT``."""
    return None if value is None else check_positive(value, name=name)


def check_seconds(value: object, *, name: str) -> float:
    """A finite number of seconds, 0 or more."""
    seconds = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float
            seconds = None
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        raise InvalidArgumentError(f"{name} must be a finite number >= 0, got {value!r}")
    return seconds


def check_checkpoint(value: object) -> Checkpoint:
    """A ``Checkpoint`` to read after."""
    if not isinstance(value, Checkpoint):
        raise InvalidArgumentError(
            f"after must be a Checkpoint, got {type(value).__name__}: {value!r}"
        )
    for part in (value.tx_id, value.position):
        if not isinstance(part, int) or isinstance(part, bool) or not 0 <= part <= MAX_BIGINT:
            raise InvalidArgumentError(
                f"checkpoint parts must be ints from 0 to {MAX_BIGINT}, got {value!r}"
            )
    return value


def check_filter(values: Iterable[str] | None, *, kind: str) -> tuple[str, ...] | None:
    """An optional, non-empty collection of names (event types or categories)."""
    if values is None:
        return None
    if isinstance(values, str):
        raise InvalidArgumentError(f"{kind}s must be a collection of names, not a str: {values!r}")
    # Each name once: a backend may read one index range per name.
    names = tuple(dict.fromkeys(check_name(value, kind=kind) for value in values))
    if not names:
        raise InvalidArgumentError(f"{kind}s must not be empty (pass None for no filter)")
    return names


def _check_event_type(event_type: object) -> str:
    if type(event_type) is str and event_type in _KNOWN_EVENT_TYPES:
        return event_type
    checked = check_name(event_type, kind="event type")
    if len(_KNOWN_EVENT_TYPES) < _KNOWN_EVENT_TYPES_LIMIT:
        _KNOWN_EVENT_TYPES.add(checked)
    return checked


def _metadata_json(event: NewEvent) -> str:
    value = _metadata_object(event.metadata)
    if value is None:
        return _NO_METADATA_JSON
    try:
        return serialization.dumps(value)
    except SerializationError as exc:
        raise SerializationError(f"metadata of event {event.event_id} {exc}") from None


def _metadata_object(metadata: Metadata) -> dict[str, object] | None:
    """``metadata.to_json()`` (None for empty metadata), the ids left to orjson where it can.

    orjson writes a ``UUID`` as ``str(uuid)`` does, in C; the two Python ``str``
    calls, the headers copy and the dataclass comparison with empty metadata
    were half of preparing an event (callgrind: 23.5k instructions for the
    metadata of one event). Anything but plain ``Metadata`` of UUIDs and a dict
    goes through ``to_json``.
    """
    correlation, causation, headers = (
        metadata.correlation_id,
        metadata.causation_id,
        metadata.headers,
    )
    if (
        type(metadata) is Metadata
        and (correlation is None or type(correlation) is UUID)
        and (causation is None or type(causation) is UUID)
        and type(headers) is dict
    ):
        if correlation is None and causation is None and not headers:
            return None
        return {"correlation_id": correlation, "causation_id": causation, "headers": headers}
    return None if metadata == _NO_METADATA else metadata.to_json()


def prepare_event(event: object, *, stream_id: str) -> PreparedEvent:
    """Check one event and serialize its data and metadata."""
    if not isinstance(event, NewEvent):
        raise InvalidArgumentError(
            f"events must be NewEvent instances, got {type(event).__name__} for {stream_id!r}"
        )
    event_type = _check_event_type(event.event_type)
    if not isinstance(event.event_id, UUID):
        raise InvalidArgumentError(f"event_id must be a UUID, got {event.event_id!r}")
    if not isinstance(event.timestamp, datetime) or event.timestamp.tzinfo is None:
        raise InvalidArgumentError(
            f"timestamp of event {event.event_id} must be a timezone-aware datetime"
        )
    check_positive(event.schema_version, name="schema_version", maximum=MAX_INTEGER)
    if not isinstance(event.data, dict) and not _is_dataclass_instance(event.data):
        raise InvalidArgumentError(
            f"{_describe_data(event, stream_id)} must be a dict or a dataclass instance, "
            f"got {type(event.data).__name__}"
        )
    if type(event.data) is dict and SEALED_FIELD in event.data:
        raise InvalidArgumentError(
            f"{_describe_data(event, stream_id)} must not hold the reserved key {SEALED_FIELD!r}"
        )
    try:
        data = serialization.dumps(event.data)
    except SerializationError as exc:
        raise SerializationError(f"{_describe_data(event, stream_id)} {exc}") from None
    return _prepared_event(
        event.event_id,
        event_type,
        event.schema_version,
        data,
        _metadata_json(event),
        event.timestamp,
        None if event.personal is None else _check_personal(event, data, stream_id),
    )


SEALED_FIELD = "$personal"
"""The reserved top-level key of stored data that holds encrypted personal fields."""


def _check_personal(event: NewEvent, data: str, stream_id: str) -> PersonalData:
    """The event's ``PersonalData``: a valid subject, and fields its data holds."""
    personal = event.personal
    if not isinstance(personal, PersonalData):
        raise InvalidArgumentError(
            f"personal of event {event.event_id} must be a PersonalData, "
            f"got {type(personal).__name__}"
        )
    check_name(personal.subject, kind="subject")
    fields = personal.fields
    if isinstance(fields, str) or not isinstance(fields, tuple) or not fields:
        raise InvalidArgumentError(
            f"personal fields of event {event.event_id} must be a non-empty tuple of names, "
            f"got {fields!r}"
        )
    present = serialization.loads(data)
    missing = [name for name in fields if not isinstance(name, str) or name not in present]
    if missing:
        raise InvalidArgumentError(
            f"{_describe_data(event, stream_id)} has no field {missing[0]!r}, "
            "which it names as personal"
        )
    return personal


def _describe_data(event: NewEvent, stream_id: str) -> str:
    return f"data of {event.event_type} event {event.event_id} for {stream_id!r}"


def _is_dataclass_instance(value: object) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def prepare_append(stream_id: object, events: object, expected: object) -> PreparedAppend:
    """Check one stream's append: id, expected version and a non-empty batch."""
    checked_id = check_stream_id(stream_id)
    if checked_id.startswith(AUDIT_STREAM) and category_of(checked_id) == AUDIT_STREAM:
        raise InvalidArgumentError(
            f"{checked_id!r} is in the category of the store's audit stream {AUDIT_STREAM!r}: "
            "only its lifecycle operations (delete_stream, truncate_stream, forget) write there"
        )
    checked_expected = check_expected_version(expected)
    if isinstance(events, NewEvent) or not isinstance(events, Sequence):
        raise InvalidArgumentError(
            f"events must be a list of NewEvent for {checked_id!r}, got {type(events).__name__}"
        )
    if not events:
        raise InvalidArgumentError(f"nothing to append to {checked_id!r}: the events list is empty")
    if len(events) > MAX_BATCH_SIZE:
        raise InvalidArgumentError(
            f"{len(events)} events in one append to {checked_id!r}; the limit is {MAX_BATCH_SIZE}"
        )
    prepared = tuple(prepare_event(event, stream_id=checked_id) for event in events)
    return PreparedAppend(checked_id, prepared, checked_expected)


def prepare_appends(appends: Sequence[StreamAppend]) -> list[PreparedAppend]:
    """Check a multi-stream append; an event id may appear only once in it."""
    if not appends:
        raise InvalidArgumentError("nothing to append: no streams given")
    prepared = []
    for append in appends:
        if not isinstance(append, StreamAppend):
            raise InvalidArgumentError(
                f"appends must be StreamAppend instances, got {type(append).__name__}"
            )
        prepared.append(prepare_append(append.stream_id, append.events, append.expected_version))
    _refuse_repeated_event_ids(prepared)
    return prepared


def _refuse_repeated_event_ids(appends: Sequence[PreparedAppend]) -> None:
    seen: set[UUID] = set()
    for append in appends:
        for event in append.events:
            if event.event_id in seen:
                raise InvalidArgumentError(
                    f"event id {event.event_id} appears twice in one append "
                    f"(stream {append.stream_id!r}); every event needs its own id"
                )
            seen.add(event.event_id)
