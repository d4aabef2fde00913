"""A plain model of an event store: what every answer of a conforming store must be.

It is a dict of lists and knows no backend. It cannot predict global positions (they
need only increase), so it records the positions the store under test returned and
checks everything else against them. Checks and the stateful test both keep one
beside the store and compare every read with it.
"""

from __future__ import annotations

import math
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.contract import RecordedEvent, StreamState, StreamWrite

__all__ = [
    "Model",
    "ModelEvent",
    "describe_difference",
    "first_field_difference",
    "json_difference",
    "json_equal",
    "show",
    "show_pair",
]


@dataclass(frozen=True, slots=True)
class ModelEvent:
    """An event as a conforming store must give it back."""

    stream_id: str
    stream_version: int
    position: int
    type: str
    data: Any
    metadata: Any
    id: uuid.UUID


def json_equal(a: Any, b: Any) -> bool:
    """Equal as JSON values, types included: True is not 1, 1 is not 1.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


def json_difference(got: Any, want: Any, path: str) -> str | None:
    """None when ``got`` equals ``want`` as JSON (see `json_equal`), else where and how
    they first differ: ``data['n'] is 10000000000000000 (int), expected 1e+16 (float)``."""
    if json_equal(got, want):
        return None
    if isinstance(got, dict) and isinstance(want, dict) and got.keys() == want.keys():
        for key in want:
            found = json_difference(got[key], want[key], f"{path}[{show(key)}]")
            if found is not None:
                return found
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for i, (x, y) in enumerate(zip(got, want, strict=True)):
            found = json_difference(x, y, f"{path}[{i}]")
            if found is not None:
                return found
    shown_got, shown_want = show_pair(got, want)
    if len(shown_got) > 80 or len(shown_want) > 80:
        shown_got, shown_want = _short(got), _short(want)
    return (
        f"{path} is {shown_got} ({type(got).__name__}), expected {shown_want} "
        f"({type(want).__name__})"
    )


def _ambiguous(text: str) -> bool:
    """True when ``text`` may print like a different string: it holds combining marks,
    format or unusual space characters, or is not in NFC (``'café'`` vs ``'cafe\u0301'``)."""
    if text.isascii():
        return False
    if unicodedata.normalize("NFC", text) != text:
        return True
    return any(not ch.isascii() and unicodedata.category(ch)[0] in "MCZ" for ch in text)


def show(value: Any) -> str:
    """``repr(value)``, or ``ascii(value)`` when its text could be mistaken for another
    string's, so that ids which differ invisibly look different in a message."""
    text = repr(value)
    return ascii(value) if _ambiguous(text) else text


def show_pair(got: Any, want: Any) -> tuple[str, str]:
    """Two values that differ, written so that the difference shows: both in ``ascii()``
    when either holds non-ASCII text (``'a'`` and Cyrillic ``'\u0430'`` print alike)."""
    got_text, want_text = repr(got), repr(want)
    if not (got_text.isascii() and want_text.isascii()):
        return ascii(got), ascii(want)
    return got_text, want_text


def _short(value: Any, limit: int = 80) -> str:
    text = show(value)
    if len(text) > limit:
        text = f"{text[: limit - 20]}...{text[-12:]} ({len(text)} chars)"
    return text


def describe_event(event: RecordedEvent | ModelEvent) -> str:
    return (
        f"({show(event.stream_id)} v{event.stream_version} @{event.position} "
        f"{show(event.type)} {str(event.id)[:8]})"
    )


def describe_difference(
    actual: Sequence[RecordedEvent], expected: Sequence[ModelEvent]
) -> str | None:
    """None when ``actual`` is exactly ``expected``, else the first difference, in words."""
    for index, (got, want) in enumerate(zip(actual, expected, strict=False)):
        for name in ("stream_id", "stream_version", "position", "type", "id"):
            if getattr(got, name) != getattr(want, name):
                shown_got, shown_want = show_pair(getattr(got, name), getattr(want, name))
                return (
                    f"event #{index + 1}: {name} is {shown_got}, expected {shown_want} "
                    f"(got {describe_event(got)}, expected {describe_event(want)})"
                )
        for name in ("data", "metadata"):
            where = json_difference(getattr(got, name), getattr(want, name), name)
            if where is not None:
                return f"event #{index + 1} {describe_event(want)}: {where}"
    if len(actual) > len(expected):
        extra = ", ".join(describe_event(e) for e in actual[len(expected) :][:3])
        return (
            f"{len(actual)} events, expected {len(expected)}: "
            f"unexpected extra events from #{len(expected) + 1}: {extra}"
        )
    if len(actual) < len(expected):
        missing = ", ".join(describe_event(e) for e in expected[len(actual) :][:3])
        return (
            f"{len(actual)} events, expected {len(expected)}: "
            f"missing events from #{len(actual) + 1}: {missing}"
        )
    return None


def first_field_difference(
    reads: Sequence[tuple[str, Sequence[RecordedEvent]]],
) -> str | None:
    """None when every read returned equal events, else the first event and field that
    differ between the first read and another, in words (``reads`` are (name, events))."""
    if not reads:
        return None
    first_name, first = reads[0]
    for name, events in reads[1:]:
        if len(events) != len(first):
            return f"the {first_name} read has {len(first)} events, the {name} read {len(events)}"
        for index, (a, b) in enumerate(zip(first, events, strict=True)):
            if a == b:
                continue
            for field_name in _FIELDS:
                x, y = getattr(a, field_name, None), getattr(b, field_name, None)
                same = json_equal(x, y) if field_name in ("data", "metadata") else x == y
                if not same:
                    shown_x, shown_y = show_pair(x, y)
                    return (
                        f"event #{index + 1} {describe_event(a)}: {field_name} is {shown_x} in "
                        f"the {first_name} read, {shown_y} in the {name} read"
                    )
            return (
                f"event #{index + 1} {describe_event(a)} differs between the {first_name} "
                f"and {name} reads"
            )
    return None


_FIELDS = (
    "stream_id",
    "stream_version",
    "position",
    "type",
    "data",
    "metadata",
    "id",
    "recorded_at",
)


def holds(expected: int | StreamState, actual: int) -> bool:
    """The expected-version rule, written out again so the model shares no code with stores."""
    if expected is StreamState.ANY:
        return True
    if expected is StreamState.NO_STREAM:
        return actual == 0
    if expected is StreamState.STREAM_EXISTS:
        return actual > 0
    return actual == expected


@dataclass
class Model:
    """Streams as lists of events, and the global log in commit order."""

    streams: dict[str, list[ModelEvent]] = field(default_factory=dict)
    log: list[ModelEvent] = field(default_factory=list)

    def version(self, stream_id: str) -> int:
        return len(self.streams.get(stream_id, ()))

    @property
    def last_position(self) -> int:
        return self.log[-1].position if self.log else 0

    def first_failure(self, writes: Sequence[StreamWrite]) -> tuple[str, int] | None:
        """The first write whose condition fails, as (stream, actual version), or None."""
        for write in writes:
            actual = self.version(write.stream_id)
            if not holds(write.expected, actual):
                return write.stream_id, actual
        return None

    def expected_versions(self, writes: Sequence[StreamWrite]) -> dict[str, int]:
        return {w.stream_id: self.version(w.stream_id) + len(w.events) for w in writes}

    def apply(self, writes: Sequence[StreamWrite], positions: Sequence[int]) -> None:
        """Record a successful append, with the positions the store gave its events."""
        given = iter(positions)
        for write in writes:
            stream = self.streams.setdefault(write.stream_id, [])
            for event in write.events:
                recorded = ModelEvent(
                    stream_id=write.stream_id,
                    stream_version=len(stream) + 1,
                    position=next(given),
                    type=event.type,
                    data=_copy(event.data),
                    metadata=_copy(event.metadata),
                    id=event.id,
                )
                stream.append(recorded)
                self.log.append(recorded)
            if not stream:
                del self.streams[write.stream_id]

    def read_stream(self, stream_id: str, from_version: int = 0) -> list[ModelEvent]:
        return self.streams.get(stream_id, [])[from_version:]

    def read_all(self, after_position: int = 0) -> list[ModelEvent]:
        return [e for e in self.log if e.position > after_position]


def _copy(value: Any) -> Any:
    # A deep copy of JSON values, so that a caller mutating what it appended cannot
    # change what the model expects.
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value
