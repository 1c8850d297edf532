"""The bytes waiting to go to the XMPP server, in order, with the socket's buffer kept small.

asyncio's socket transport keeps what the kernel did not take in one ``bytearray``. During a
fan-out the component writes faster than the server reads (Prosody delivers ~18k stanzas/s, a
burst of changes asks for more), and that buffer grows to tens of MB: each write then appends to
a huge array that is copied whole whenever it has to grow (and again as the front is sent),
which was the largest single cost of the publisher's writes in the fan-out profile. Instead,
once the transport says its buffer is full (``pause_writing``), writes wait here as a list of
chunks, and go to the transport a bounded batch at a time when it drains (``resume_writing``).

Everything written to the stream passes here (the component's ``send_raw``), so the order of
the stream is the order of the writes, whatever is held.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

# What one resume hands to the transport at most, joined in one write.
_BATCH_BYTES = 256 * 1024


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...

    def get_write_buffer_size(self) -> int: ...


class Outbox:
    def __init__(self) -> None:
        self._transport: Transport | None = None
        self._paused = False
        self._held: deque[bytes] = deque()
        self._held_bytes = 0

    def attach(self, transport: Transport | None) -> None:
        """A new connection (or none): what was held for the old one is dropped with it."""
        self._transport = transport
        self._paused = False
        self._held.clear()
        self._held_bytes = 0

    def write(self, data: bytes) -> None:
        if self._paused or self._held:
            self._held.append(data)
            self._held_bytes += len(data)
        elif self._transport is not None:
            self._transport.write(data)  # may call pause() before it returns

    def pause(self) -> None:
        """The transport's buffer is over its high-water mark."""
        self._paused = True

    def resume(self) -> None:
        """The transport's buffer drained below its low-water mark: hand it what is held."""
        self._paused = False
        held = self._held
        while held and not self._paused and self._transport is not None:
            batch = [held.popleft()]
            size = len(batch[0])
            while held and size < _BATCH_BYTES:
                size += len(held[0])
                batch.append(held.popleft())
            self._held_bytes -= size
            self._transport.write(batch[0] if len(batch) == 1 else b"".join(batch))

    def unsent(self) -> int:
        """Bytes written and not yet taken by the kernel: held here plus the transport's buffer."""
        transport = self._transport
        return self._held_bytes + (transport.get_write_buffer_size() if transport is not None else 0)
