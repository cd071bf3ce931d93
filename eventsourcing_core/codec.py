"""Typed event payloads: fields written as JSON values and read back as their annotated types.

The store keeps JSON, so a ``date`` written as ``"2026-01-02"`` comes back as a
string unless something reads the annotation. ``codec_for(EventClass)`` does:
it builds, once per class, an encoder and a decoder from the dataclass's field
annotations. Supported: ``str``, ``int``, ``float``, ``bool``, ``None``,
``Any``, ``Literal``, ``date``, ``datetime``, ``time``, ``UUID``, ``Decimal``
(as a string, exact), ``Enum`` (by value), nested dataclasses, ``tuple``
(``tuple[X, ...]`` and ``tuple[X, Y]``), ``list``, ``set``/``frozenset`` (as
JSON arrays), ``dict``/``Mapping`` with ``str`` keys, optionals (``X | None``)
and unions of JSON primitives. Anything else (``bytes``, ``timedelta``, an
arbitrary class) cannot round-trip and raises ``TypeError`` naming the field
when the codec is built.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

Convert = Callable[[Any], Any]

_PRIMITIVES: tuple[type, ...] = (str, int, float, bool, type(None))
SUPPORTED = (
    "str, int, float, bool, None, Any, Literal, date, datetime, time, UUID, Decimal, Enum, "
    "dataclasses, tuple, list, set, frozenset, dict/Mapping with str keys, X | None"
)


@dataclass(frozen=True, slots=True)
class Codec:
    """How one type goes to JSON values (``encode``) and back (``decode``).

    ``None`` in place of a function means the value is JSON as it is (no work).
    """

    encode: Convert | None
    decode: Convert | None


_AS_IS = Codec(None, None)


class UnsupportedTypeError(TypeError):
    """A field's annotation names a type that cannot round-trip through JSON."""


def encode_with(codec: Codec, value: Any) -> Any:
    """``value`` as JSON values, through ``codec``."""
    return value if codec.encode is None else codec.encode(value)


def decode_with(codec: Codec, value: Any) -> Any:
    """A JSON value read back as ``codec``'s type."""
    return value if codec.decode is None else codec.decode(value)


@functools.cache
def codec_for(annotation: Any) -> Codec:
    """The codec of a type annotation (a class, or a generic such as ``tuple[int, ...]``)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return codec_for(typing.get_args(annotation)[0])
    if origin is not None:
        return _generic_codec(annotation, origin, typing.get_args(annotation))
    if annotation is Any or annotation in _PRIMITIVES:
        return _AS_IS if annotation is not float else Codec(None, float)
    if isinstance(annotation, typing.NewType):
        return codec_for(annotation.__supertype__)
    if isinstance(annotation, type):
        return _class_codec(annotation)
    raise UnsupportedTypeError(f"{annotation!r} cannot round-trip through JSON")


def _class_codec(cls: type) -> Codec:
    if issubclass(cls, enum.Enum):
        return Codec(_enum_value, cls)
    if issubclass(cls, datetime):
        return Codec(datetime.isoformat, datetime.fromisoformat)
    if issubclass(cls, date):
        return Codec(date.isoformat, date.fromisoformat)
    if issubclass(cls, time):
        return Codec(time.isoformat, time.fromisoformat)
    if cls is UUID:
        return Codec(str, UUID)
    if cls is Decimal:
        return Codec(str, Decimal)
    if dataclasses.is_dataclass(cls):
        return dataclass_codec(cls)
    if cls in (tuple, list, set, frozenset, dict):
        return _generic_codec(cls, cls, ())
    raise UnsupportedTypeError(f"{cls.__qualname__} cannot round-trip through JSON")


def _enum_value(member: enum.Enum) -> Any:
    return member.value


def _generic_codec(annotation: Any, origin: Any, args: tuple[Any, ...]) -> Codec:
    if origin is typing.Literal:
        return _AS_IS
    if origin is typing.Union or origin is types.UnionType:
        return _union_codec(annotation, args)
    if origin in (dict, Mapping):
        return _mapping_codec(annotation, args)
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        return _fixed_tuple_codec(args)
    item = codec_for(args[0]) if args else _AS_IS
    if origin in (tuple, Sequence):
        return Codec(_each(item.encode), _each(item.decode, tuple))
    if origin is list:
        return Codec(_each(item.encode), _each(item.decode))
    if origin in (set, frozenset, AbstractSet):
        container = set if origin is set else frozenset
        return Codec(_each(item.encode), _each(item.decode, container))
    raise UnsupportedTypeError(f"{annotation!r} cannot round-trip through JSON")


def _union_codec(annotation: Any, args: tuple[Any, ...]) -> Codec:
    others = [arg for arg in args if arg is not type(None)]
    if len(others) == 1:
        inner = codec_for(others[0])
        if inner is _AS_IS:
            return _AS_IS
        return Codec(_unless_none(inner.encode), _unless_none(inner.decode))
    if all(arg in _PRIMITIVES for arg in others):
        return _AS_IS
    raise UnsupportedTypeError(
        f"{annotation!r} cannot round-trip through JSON: a union of several types other "
        "than JSON primitives cannot tell which one to read back"
    )


def _mapping_codec(annotation: Any, args: tuple[Any, ...]) -> Codec:
    if args and args[0] is not str:
        raise UnsupportedTypeError(f"{annotation!r} cannot round-trip: JSON keys are strings")
    value = codec_for(args[1]) if args else _AS_IS
    if value is _AS_IS:
        return Codec(dict, None)
    encode, decode = value.encode, value.decode
    return Codec(
        None if encode is None else lambda d: {k: encode(v) for k, v in d.items()},
        None if decode is None else lambda d: {k: decode(v) for k, v in d.items()},
    )


def _fixed_tuple_codec(args: tuple[Any, ...]) -> Codec:
    codecs = [codec_for(arg) for arg in args]

    def encode(value: tuple[Any, ...]) -> list[Any]:
        return [encode_with(codec, item) for codec, item in zip(codecs, value, strict=True)]

    def decode(value: Sequence[Any]) -> tuple[Any, ...]:
        if len(value) != len(codecs):
            raise ValueError(f"expected {len(codecs)} items, got {len(value)}")
        return tuple(decode_with(codec, item) for codec, item in zip(codecs, value, strict=True))

    return Codec(encode, decode)


def _each(convert: Convert | None, container: Callable[[Any], Any] = list) -> Convert:
    if convert is None:
        return container
    return lambda values: container(convert(value) for value in values)


def _unless_none(convert: Convert | None) -> Convert | None:
    if convert is None:
        return None
    return lambda value: None if value is None else convert(value)


def dataclass_codec(cls: type) -> Codec:
    """The codec of a dataclass: a JSON object of its (init) fields, each by its annotation."""
    fields = _field_codecs(cls)
    if all(codec is _AS_IS for _, codec in fields):
        names = [name for name, _ in fields]
        return Codec(lambda value: {name: getattr(value, name) for name in names}, _build(cls))

    def encode(value: Any) -> dict[str, Any]:
        return {name: encode_with(codec, getattr(value, name)) for name, codec in fields}

    def decode(data: Mapping[str, Any]) -> Any:
        if not isinstance(data, Mapping):
            raise ValueError(f"{cls.__qualname__} must be read from a JSON object, got {data!r}")
        codecs = dict(fields)
        values = {}
        for name, value in data.items():
            codec = codecs.get(name)
            values[name] = value if codec is None else decode_with(codec, value)
        return cls(**values)

    return Codec(encode, decode)


def decode_dataclass_keeping(cls: type, data: Mapping[str, Any], keep: Sequence[str]) -> Any:
    """``cls`` from ``data``, the fields named in ``keep`` taken as they are (not decoded).

    For personal fields read as the redaction marker, whatever their annotation.
    """
    values = {
        name: data[name] if name in keep else decode_with(codec, data[name])
        for name, codec in _field_codecs(cls)
        if name in data
    }
    return cls(**values)


def _build(cls: type) -> Convert:
    def build(data: Mapping[str, Any]) -> Any:
        if not isinstance(data, Mapping):
            raise ValueError(f"{cls.__qualname__} must be read from a JSON object, got {data!r}")
        return cls(**data)

    return build


def _field_codecs(cls: type) -> list[tuple[str, Codec]]:
    hints = typing.get_type_hints(cls, include_extras=True)
    codecs = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        try:
            codecs.append((field.name, codec_for(hints[field.name])))
        except UnsupportedTypeError as exc:
            raise UnsupportedTypeError(
                f"{cls.__qualname__}.{field.name}: {exc}; supported: {SUPPORTED}"
            ) from None
    return codecs
