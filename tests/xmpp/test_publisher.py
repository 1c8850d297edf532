"""The publisher's hot path without a server: coalescing per loop tick, one stanza per subscriber,
no resend of an unchanged presence, nothing written while offline, everyone resent on reconnect."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from presence.hub import PresenceHub
from presence.model import ImShow, ImState, LineState, PhoneState
from store import Store
from xmpp_component.publisher import Publisher
from xmpp_component.subscriptions import PhoneSubscriptions


@dataclass
class _Jid:
    bare: str


@dataclass
class FakeStream:
    """Stands in for the slixmpp component: records what would be written to the stream."""

    boundjid: _Jid = field(default_factory=lambda: _Jid("phone.example.test"))
    writes: list[str] = field(default_factory=list)

    def send(self, data: str) -> None:
        self.writes.append(data)

    def stanzas(self) -> list[ET.Element]:
        return [child for data in self.writes for child in ET.fromstring(f"<s>{data}</s>")]


@pytest.fixture
async def parts(
    tmp_path: Path,
) -> AsyncIterator[tuple[FakeStream, PresenceHub, PhoneSubscriptions, list[bool]]]:
    async with Store(tmp_path / "db.sqlite") as store:
        subscriptions = PhoneSubscriptions(store)
        await subscriptions.add("alice", "bob@example.test")
        await subscriptions.add("alice", "carol@example.test")
        await subscriptions.add("bob", "alice@example.test")
        yield FakeStream(), PresenceHub(), subscriptions, [True]


async def test_a_burst_in_one_tick_becomes_one_write_with_the_final_state(parts) -> None:
    stream, hub, subscriptions, online = parts
    Publisher(stream, hub, subscriptions, lambda: online[0])
    hub.apply_phone("alice", PhoneState("uuid-a", line_state=LineState.AVAILABLE))
    hub.apply_phone("alice", PhoneState("uuid-a", line_state=LineState.RINGING))
    hub.apply_im("bob", ImState(ImShow.AWAY, "lunch"))
    assert stream.writes == []  # nothing before the end of the tick
    await asyncio.sleep(0)
    assert len(stream.writes) == 1
    stanzas = stream.stanzas()
    assert sorted((s.get("from"), s.get("to")) for s in stanzas) == [
        ("alice@phone.example.test/phone", "bob@example.test"),
        ("alice@phone.example.test/phone", "carol@example.test"),
        ("bob@phone.example.test/phone", "alice@example.test"),
    ]
    alice_to_bob = next(s for s in stanzas if s.get("to") == "bob@example.test")
    assert alice_to_bob.findtext("status") == "Ringing"


async def test_an_unchanged_presence_is_not_sent_again(parts) -> None:
    stream, hub, subscriptions, online = parts
    Publisher(stream, hub, subscriptions, lambda: online[0])
    hub.apply_im("alice", ImState(ImShow.AVAILABLE, ""))
    await asyncio.sleep(0)
    hub.apply_im("alice", ImState(ImShow.DND, ""))
    hub.apply_im("alice", ImState(ImShow.AVAILABLE, ""))  # back to what subscribers already have
    await asyncio.sleep(0)
    assert len(stream.writes) == 1


async def test_offline_changes_are_dropped_and_reconnect_resends_everything(parts) -> None:
    stream, hub, subscriptions, online = parts
    publisher = Publisher(stream, hub, subscriptions, lambda: online[0])
    online[0] = False
    hub.apply_im("alice", ImState(ImShow.AWAY, ""))
    await asyncio.sleep(0)
    assert stream.writes == []
    online[0] = True
    publisher.publish_all()
    targets = sorted(s.get("to") for s in stream.stanzas())
    assert targets == ["alice@example.test", "bob@example.test", "carol@example.test"]
    away = [s for s in stream.stanzas() if s.get("from", "").startswith("alice@")]
    assert {s.findtext("show") for s in away} == {"away"}


async def test_shutdown_sends_unavailable_from_every_phone_jid(parts) -> None:
    stream, hub, subscriptions, online = parts
    publisher = Publisher(stream, hub, subscriptions, lambda: online[0])
    publisher.send_unavailable_to_all()
    stanzas = stream.stanzas()
    assert len(stanzas) == 3
    assert {s.get("type") for s in stanzas} == {"unavailable"}
