"""Crypto-shredding: personal fields encrypted under a key per subject, erased by destroying it.

An event names its personal fields and their subject (``NewEvent(personal=
PersonalData(subject, fields))``, or ``personal_fields`` on a ``DomainEvent``).
Before the append, the backend takes those fields out of the data and seals
them with AES-GCM (256-bit key, the ``cryptography`` package: the
``encryption`` extra) into one reserved top-level entry::

    {"username": "alice", "$personal": {"subject": "7", "key_id": "...",
                                         "fields": ["email"], "sealed": "<base64>"}}

Everything else stays plain JSON. Reads put the fields back; once the
subject's key is gone (``store.forget(subject)``) each of them reads as
``REDACTED`` instead, on every read path, and nothing fails.

The nonce is synthetic (a keyed SHA-256 of the event id and the plaintext, under
a key derived from the subject's key), so sealing the same event twice gives the
same bytes: an idempotent retry of an append still matches the recorded
event, and two different plaintexts never share a nonce. The ciphertext is
bound to its event and subject (AES-GCM associated data), so it cannot be
moved to another event or subject and be decrypted there.

This module holds no state and does no I/O: a backend passes the keys in
(``postgres/keys.py``, ``memory.py``).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID, uuid4

import orjson

from eventsourcing_core import serialization
from eventsourcing_core.events import RecordedEvent
from eventsourcing_core.extras import missing_extra
from eventsourcing_core.validation import SEALED_FIELD, PreparedAppend, PreparedEvent

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

REDACTED = "[redacted]"
"""What a personal field reads as once its subject's key is destroyed (any field type)."""

KEY_BYTES = 32
_NONCE_BYTES = 12
_NONCE_LABEL = b"eventsourcing_core nonce key"


@dataclass(frozen=True, slots=True)
class SubjectKey:
    """One subject's data key. ``key_id`` tells a new key from a destroyed one."""

    subject: str
    key_id: UUID
    secret: bytes = dataclasses.field(repr=False)

    @classmethod
    def new(cls, subject: str) -> SubjectKey:
        """A fresh random key for ``subject``."""
        return cls(subject, uuid4(), os.urandom(KEY_BYTES))


def _cipher(key: SubjectKey) -> AESGCM:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise missing_extra("encryption", "cryptography") from None
    return AESGCM(key.secret)


def _associated_data(event_id: UUID, subject: str) -> bytes:
    return event_id.bytes + subject.encode("utf-8")


def _nonce(key: SubjectKey, event_id: UUID, plaintext: bytes) -> bytes:
    nonce_key = hashlib.sha256(_NONCE_LABEL + key.secret).digest()
    # A keyed SHA-256 (key first, fixed length) as the PRF: the nonce need only be
    # unique per key and plaintext; hmac.digest cost 6 us of a 30 us seal.
    return hashlib.sha256(nonce_key + event_id.bytes + plaintext).digest()[:_NONCE_BYTES]


# -- appending -----------------------------------------------------------------


def has_personal(appends: Sequence[PreparedAppend]) -> bool:
    """Whether any event of these appends has personal fields to seal."""
    return any(event.personal is not None for append in appends for event in append.events)


def subjects_of(appends: Sequence[PreparedAppend]) -> set[str]:
    """The subjects whose keys these appends need."""
    return {
        event.personal.subject
        for append in appends
        for event in append.events
        if event.personal is not None
    }


def seal_appends(
    appends: Sequence[PreparedAppend], keys: Mapping[str, SubjectKey]
) -> list[PreparedAppend]:
    """The appends with every personal event sealed under its subject's key (from ``keys``)."""
    return [
        dataclasses.replace(append, events=tuple(_sealed(event, keys) for event in append.events))
        if any(event.personal is not None for event in append.events)
        else append
        for append in appends
    ]


def _sealed(event: PreparedEvent, keys: Mapping[str, SubjectKey]) -> PreparedEvent:
    if event.personal is None:
        return event
    return seal(event, keys[event.personal.subject])


def seal(event: PreparedEvent, key: SubjectKey) -> PreparedEvent:
    """``event`` with its personal fields encrypted under ``key`` (its subject's)."""
    personal = event.personal
    assert personal is not None
    assert personal.subject == key.subject
    # The data was checked and written by ``serialization.dumps`` already, so
    # plain orjson is enough to take it apart and put it back together.
    data = orjson.loads(event.data)
    plaintext = orjson.dumps({name: data.pop(name) for name in personal.fields})
    nonce = _nonce(key, event.event_id, plaintext)
    sealed = _cipher(key).encrypt(
        nonce, plaintext, _associated_data(event.event_id, personal.subject)
    )
    data[SEALED_FIELD] = {
        "subject": personal.subject,
        "key_id": str(key.key_id),
        "fields": personal.fields,
        "sealed": base64.b64encode(nonce + sealed).decode("ascii"),
    }
    return PreparedEvent(
        event_id=event.event_id,
        event_type=event.event_type,
        schema_version=event.schema_version,
        data=orjson.dumps(data).decode(),
        metadata=event.metadata,
        timestamp=event.timestamp,
    )


# -- reading -------------------------------------------------------------------


def is_sealed(event: RecordedEvent) -> bool:
    """Whether a recorded event holds sealed personal fields."""
    return SEALED_FIELD in event.data


def sealed_subjects(events: Iterable[RecordedEvent]) -> set[str]:
    """The subjects whose keys a page of recorded events needs (empty: nothing to open)."""
    return {
        str(event.data[SEALED_FIELD].get("subject"))
        for event in events
        if SEALED_FIELD in event.data
    }


def open_events(events: list[RecordedEvent], keys: Mapping[str, SubjectKey]) -> list[RecordedEvent]:
    """The events with personal fields decrypted, or ``REDACTED`` where no key opens them."""
    opener = _Opener(keys)
    return [opener.opened(event) if SEALED_FIELD in event.data else event for event in events]


class _Opener:
    """Opens one page's envelopes, building each subject's cipher once."""

    def __init__(self, keys: Mapping[str, SubjectKey]) -> None:
        self._keys = keys
        self._ciphers: dict[str, tuple[str, AESGCM]] = {}

    def opened(self, event: RecordedEvent) -> RecordedEvent:
        data = dict(event.data)
        envelope = data.pop(SEALED_FIELD)
        data.update(self._fields(event.event_id, envelope))
        return _with_data(event, data)

    def _fields(self, event_id: UUID, envelope: Any) -> dict[str, Any]:
        """The decrypted fields of one envelope; all ``REDACTED`` unless its own key opens it."""
        subject = str(envelope.get("subject"))
        cipher = self._cipher(subject)
        if cipher is None or cipher[0] != envelope.get("key_id"):
            return dict.fromkeys(map(str, envelope.get("fields", ())), REDACTED)
        from cryptography.exceptions import InvalidTag  # importable: _cipher imported AESGCM

        try:
            raw = base64.b64decode(envelope["sealed"])
            plaintext = cipher[1].decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated_data(event_id, subject)
            )
        except (InvalidTag, ValueError, KeyError, TypeError):
            return dict.fromkeys(map(str, envelope.get("fields", ())), REDACTED)
        opened: dict[str, Any] = serialization.loads(plaintext)
        return opened

    def _cipher(self, subject: str) -> tuple[str, AESGCM] | None:
        cipher = self._ciphers.get(subject)
        if cipher is None:
            key = self._keys.get(subject)
            if key is None:
                return None
            cipher = self._ciphers[subject] = (str(key.key_id), _cipher(key))
        return cipher


class _Rebuilt:
    """RecordedEvent's slots, filled by plain assignment (as ``rows._EventRow`` does)."""

    __slots__ = RecordedEvent.__slots__


def _with_data(event: RecordedEvent, data: dict[str, Any]) -> RecordedEvent:
    """A copy of ``event`` with other data: ``dataclasses.replace`` cost 8 us an event."""
    copy = _Rebuilt.__new__(_Rebuilt)
    for name in _Rebuilt.__slots__:
        setattr(copy, name, getattr(event, name))
    copy.data = data  # type: ignore[attr-defined]
    copy.__class__ = RecordedEvent  # type: ignore[assignment]
    return cast(RecordedEvent, copy)


def is_redacted(value: object) -> bool:
    """Whether a personal field's value is the redaction marker."""
    return value == REDACTED
