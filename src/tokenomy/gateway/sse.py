"""Server-sent events, read incrementally from a byte stream.

The gateway relays each event's bytes exactly as they came and looks inside only to find
usage, so an event is kept both raw and parsed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Event:
    raw: bytes  # the event's bytes, blank-line terminator included
    name: str  # "message" when the event has no "event:" field
    data: bytes  # the "data:" lines joined with "\n"


class EventReader:
    """Feed bytes as they arrive; complete events come out in order."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[Event]:
        self._buffer += chunk
        events: list[Event] = []
        while True:
            end, size = _event_end(self._buffer)
            if end < 0:
                return events
            raw = self._buffer[: end + size]
            self._buffer = self._buffer[end + size :]
            events.append(_parse(raw))

    @property
    def leftover(self) -> bytes:
        """Bytes of an event that never ended (a stream cut off mid-event)."""
        return self._buffer


def _event_end(buffer: bytes) -> tuple[int, int]:
    """Where the first blank line is, and its length (\\n\\n, \\r\\n\\r\\n or \\r\\r)."""
    best, size = -1, 0
    for sep in (b"\n\n", b"\r\n\r\n", b"\r\r"):
        i = buffer.find(sep)
        if i >= 0 and (best < 0 or i < best):
            best, size = i, len(sep)
    return best, size


def _parse(raw: bytes) -> Event:
    name = "message"
    data: list[bytes] = []
    for line in raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"event":
            name = value.decode("utf-8", "replace")
        elif field == b"data":
            data.append(value)
    return Event(raw, name, b"\n".join(data))
