"""Upcasters: lift stored payloads written by older code to the current event schema.

Events are never rewritten in the log; old payloads are lifted as they are
read, one schema version at a time:

    upcasters = Upcasters()

    @upcasters.register("LineAdded", 1)                        # v1 -> v2
    def _price_in_cents(data):
        return {**data, "unit_price_cents": round(data.pop("unit_price") * 100)}

    @upcasters.register("ItemPut", 1, to_type="LineAdded")     # a renamed type
    def _renamed(data):
        return data

Register them once, where every read path finds them: on the aggregate class
(``upcasters = Upcasters()`` in its body, used by every ``Repository`` of it
and by ``escore replay``), or in an application registry named by
``upcasters = "module:attribute"`` in ``[tool.escore]`` for the command line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eventsourcing_core.errors import InvalidArgumentError

Upcast = Callable[[dict[str, Any]], Mapping[str, Any]]

_MAX_STEPS = 100


@dataclass(frozen=True, slots=True)
class _Step:
    to_type: str
    to_version: int
    upcast: Upcast


class Upcasters:
    """A registry of upcasters, each from one (event type, schema version) to the next."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], _Step] = {}

    def register(
        self, event_type: str, schema_version: int, *, to_type: str | None = None
    ) -> Callable[[Upcast], Upcast]:
        """Register the function that lifts ``event_type`` at ``schema_version`` one version up.

        With ``to_type``, the lifted payload is of that (renamed) type, at
        ``schema_version + 1``.
        """
        key = (event_type, schema_version)
        if key in self._steps:
            raise InvalidArgumentError(
                f"an upcaster for {event_type} version {schema_version} is registered already"
            )

        def add(upcast: Upcast) -> Upcast:
            self._steps[key] = _Step(to_type or event_type, schema_version + 1, upcast)
            return upcast

        return add

    @classmethod
    def merged(cls, *registries: Upcasters | None) -> Upcasters:
        """One registry holding every step of ``registries``; a step registered twice is refused."""
        merged = cls()
        for registry in registries:
            if registry is None:
                continue
            for (event_type, version), step in registry._steps.items():
                merged.register(event_type, version, to_type=step.to_type)(step.upcast)
        return merged

    def lift(
        self, event_type: str, schema_version: int, data: Mapping[str, Any]
    ) -> tuple[str, int, Mapping[str, Any]]:
        """The payload lifted as far as registered upcasters go: (type, version, data)."""
        for _ in range(_MAX_STEPS):
            step = self._steps.get((event_type, schema_version))
            if step is None:
                return event_type, schema_version, data
            data = step.upcast(dict(data))
            event_type, schema_version = step.to_type, step.to_version
        raise InvalidArgumentError(f"upcasters for {event_type} loop or chain too far")
