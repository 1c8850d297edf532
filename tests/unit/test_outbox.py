"""The outbox: writes keep their order, wait while the transport's buffer is full, and go out in
bounded batches when it drains; a new connection drops what was held for the old one."""

from __future__ import annotations

from dataclasses import dataclass, field

from xmpp_component.outbox import Outbox


@dataclass
class FakeTransport:
    """Buffers everything; past ``high`` bytes it pauses the outbox, like asyncio's transports."""

    outbox: Outbox
    high: int = 10
    buffer: bytearray = field(default_factory=bytearray)
    writes: list[bytes] = field(default_factory=list)

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.buffer += data
        if len(self.buffer) > self.high:
            self.outbox.pause()

    def get_write_buffer_size(self) -> int:
        return len(self.buffer)

    def drain(self) -> bytes:
        sent, self.buffer = bytes(self.buffer), bytearray()
        self.outbox.resume()
        return sent


def test_writes_go_straight_to_the_transport_while_it_has_room() -> None:
    outbox = Outbox()
    transport = FakeTransport(outbox)
    outbox.attach(transport)
    outbox.write(b"<a/>")
    outbox.write(b"<b/>")
    assert transport.writes == [b"<a/>", b"<b/>"]
    assert outbox.unsent() == 8


def test_a_full_transport_holds_the_rest_in_order_until_it_drains() -> None:
    outbox = Outbox()
    transport = FakeTransport(outbox, high=10)
    outbox.attach(transport)
    outbox.write(b"<first-over-the-mark/>")  # pauses
    outbox.write(b"<two/>")
    outbox.write(b"<three/>")
    assert transport.writes == [b"<first-over-the-mark/>"]
    assert outbox.unsent() == len(b"<first-over-the-mark/><two/><three/>")
    sent = transport.drain()  # the held chunks go as one write
    sent += transport.drain()
    assert sent == b"<first-over-the-mark/><two/><three/>"
    assert transport.writes[1:] == [b"<two/><three/>"]
    assert outbox.unsent() == 0
    outbox.write(b"<four/>")  # room again: straight through
    assert transport.writes[-1] == b"<four/>"


def test_a_write_while_something_is_held_does_not_overtake_it() -> None:
    outbox = Outbox()
    transport = FakeTransport(outbox, high=4)
    outbox.attach(transport)
    outbox.write(b"<one/>")  # pauses
    outbox.write(b"<two/>")
    outbox.resume()  # drained just enough to resume; <two/> goes and pauses again
    outbox.write(b"<three/>")
    assert transport.drain() + transport.drain() == b"<one/><two/><three/>"


def test_a_new_connection_drops_what_was_held_for_the_old_one() -> None:
    outbox = Outbox()
    old = FakeTransport(outbox, high=1)
    outbox.attach(old)
    outbox.write(b"<sent/>")
    outbox.write(b"<held/>")
    new = FakeTransport(outbox)
    outbox.attach(new)
    outbox.write(b"<header/>")
    assert new.writes == [b"<header/>"]
    assert outbox.unsent() == len(b"<header/>")
