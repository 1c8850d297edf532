"""The publisher's hot path without a server: coalescing per loop tick, one stanza per subscriber,
no resend of an unchanged presence, nothing written while offline, nothing to watchers known
offline, and after a reconnect what changed (to all) or what a watcher may lack (to them)."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from presence.chat_sessions import ChatSessions
from presence.hub import PresenceHub
from presence.im import ImResources
from presence.model import ImShow, ImState, LineState, PhoneState
from tests.conftest import StoreOpener
from xmpp_component import publisher as publisher_module
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
    store_opener: StoreOpener,
    tmp_path: Path,
) -> AsyncIterator[tuple[FakeStream, PresenceHub, PhoneSubscriptions, list[bool]]]:
    async with store_opener() as store:
        subscriptions = PhoneSubscriptions(store)
        await subscriptions.add("alice", "bob@example.test", "alice")
        await subscriptions.add("alice", "carol@example.test", "alice")
        await subscriptions.add("bob", "alice@example.test", "bob")
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


async def test_a_user_watched_under_two_names_is_serialised_once_per_name(parts, monkeypatch) -> None:
    stream, hub, subscriptions, online = parts
    # alice's email changed: dave watches her new phone JID, bob and carol the old one.
    await subscriptions.add("alice.smith", "dave@example.test", "alice")
    built: list[str] = []
    real_build = publisher_module.build_presence

    def counting_build(presence, from_jid):  # type: ignore[no-untyped-def]
        built.append(from_jid)
        return real_build(presence, from_jid)

    monkeypatch.setattr(publisher_module, "build_presence", counting_build)
    Publisher(stream, hub, subscriptions, lambda: online[0])
    hub.apply_phone("alice", PhoneState("uuid-a", line_state=LineState.RINGING))
    await asyncio.sleep(0)
    assert sorted(built) == ["alice.smith@phone.example.test/phone", "alice@phone.example.test/phone"]
    assert sorted((s.get("from"), s.get("to")) for s in stream.stanzas()) == [
        ("alice.smith@phone.example.test/phone", "dave@example.test"),
        ("alice@phone.example.test/phone", "bob@example.test"),
        ("alice@phone.example.test/phone", "carol@example.test"),
    ]


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


@dataclass
class SlowTransport:
    """A socket whose write buffer stays full until ``drained`` is set."""

    drained: bool = False

    def get_write_buffer_size(self) -> int:
        return 0 if self.drained else 1 << 30


async def test_a_change_during_a_paced_resend_is_sent_once_with_the_latest_state(
    store_opener: StoreOpener, tmp_path: Path
) -> None:
    async with store_opener() as store:
        subscriptions = PhoneSubscriptions(store)
        owners = [f"user{i:03}" for i in range(250)]
        for owner in owners:
            await subscriptions.add(owner, f"watcher-of-{owner}@example.test", owner)
        stream, hub, transport = FakeStream(), PresenceHub(), SlowTransport()
        stream.transport = transport  # type: ignore[attr-defined]
        publisher = Publisher(stream, hub, subscriptions, lambda: True)
        publisher.publish_all()  # the first batch is out; the rest waits for the socket
        resend = next(t for t in asyncio.all_tasks() if t.get_name() == "publish-all")
        early, late = subscriptions.owners()[0], subscriptions.owners()[-1]
        assert len(stream.stanzas()) == 100

        hub.apply_im(early, ImState(ImShow.AWAY, ""))
        hub.apply_im(late, ImState(ImShow.AWAY, ""))
        await asyncio.sleep(0)  # the change is flushed at the end of this tick
        assert len(stream.stanzas()) == 101
        transport.drained = True
        await asyncio.wait_for(resend, 10)  # every batch written: nothing more can come

        def to(owner: str) -> list[ET.Element]:
            return [s for s in stream.stanzas() if s.get("to") == f"watcher-of-{owner}@example.test"]

        assert len(stream.stanzas()) == 251  # 250 in the resend, plus the early owner's change
        assert [s.findtext("show") for s in to(early)] == [None, "away"]
        assert [s.findtext("show") for s in to(late)] == ["away"]  # sent once, already current


async def test_drain_waits_for_the_socket_and_gives_up_after_its_timeout(parts) -> None:
    stream, hub, subscriptions, online = parts
    transport = SlowTransport()
    stream.transport = transport  # type: ignore[attr-defined]
    publisher = Publisher(stream, hub, subscriptions, lambda: online[0])
    publisher.send_unavailable_to_all()
    assert await publisher.drain(0.05) is False  # the server is not reading
    asyncio.get_running_loop().call_later(0.05, setattr, transport, "drained", True)
    assert await publisher.drain(5.0) is True


ONLINE = ImResources().available("laptop")


def pairs_sent(stream: FakeStream) -> list[tuple[str, str]]:
    return sorted((s.get("from", "").split("@")[0], s.get("to", "")) for s in stream.stanzas())


async def test_a_change_skips_watchers_known_offline_only(parts) -> None:
    stream, hub, subscriptions, online = parts
    sessions = ChatSessions()
    sessions.update("bob@example.test", ImResources())  # bob logged out: his server would drop it
    # carol: never heard of (another server, or no approval): she may be online and receives.
    publisher = Publisher(stream, hub, subscriptions, lambda: online[0], sessions)
    hub.apply_im("alice", ImState(ImShow.AWAY, ""))
    await asyncio.sleep(0)
    assert pairs_sent(stream) == [("alice", "carol@example.test")]
    stream.writes.clear()
    publisher.publish_all()  # the cold start too
    assert pairs_sent(stream) == [("alice", "carol@example.test"), ("bob", "alice@example.test")]
    stream.writes.clear()
    publisher.send_unavailable_to_all()
    assert pairs_sent(stream) == [("alice", "carol@example.test"), ("bob", "alice@example.test")]


async def test_after_a_reconnect_watchers_who_kept_their_sessions_get_only_what_changed(parts) -> None:
    stream, hub, subscriptions, online = parts
    await subscriptions.add("bob", "carol@example.test", "bob")
    sessions = ChatSessions()
    for jid in ("alice@example.test", "bob@example.test", "carol@example.test"):
        sessions.update(jid, ONLINE)
    publisher = Publisher(stream, hub, subscriptions, lambda: online[0], sessions)
    publisher.publish_all()
    publisher.delivered(publisher.checkpoint())  # a keepalive ping answered: all that arrived
    online[0] = False
    hub.apply_im("alice", ImState(ImShow.AWAY, ""))  # while the link is down
    await asyncio.sleep(0)
    stream.writes.clear()

    online[0] = True
    sessions.new_stream(publisher.new_stream())
    before, after = time.time() - 100, time.time() + 100
    sessions.update("alice@example.test", ONLINE, stamp=before)  # the same session all along
    sessions.update("bob@example.test", ONLINE, stamp=before)
    sessions.update("carol@example.test", ONLINE, stamp=after)  # logged in while the link was down
    publisher.publish_all()
    assert pairs_sent(stream) == [
        ("alice", "bob@example.test"),  # alice changed: everyone watching her
        ("alice", "carol@example.test"),
        ("bob", "carol@example.test"),  # bob did not, but carol's probes bounced: she has nothing
    ]


async def test_what_was_written_after_the_last_answered_ping_is_resent_after_a_reconnect(parts) -> None:
    stream, hub, subscriptions, online = parts
    sessions = ChatSessions()
    for jid in ("alice@example.test", "bob@example.test", "carol@example.test"):
        sessions.update(jid, ONLINE)
    publisher = Publisher(stream, hub, subscriptions, lambda: online[0], sessions)
    publisher.publish_all()
    publisher.delivered(publisher.checkpoint())
    hub.apply_im("bob", ImState(ImShow.AWAY, ""))  # written, but the ping after it is never answered
    await asyncio.sleep(0)
    publisher.checkpoint()
    online[0] = False
    stream.writes.clear()

    online[0] = True
    sessions.new_stream(publisher.new_stream())
    for jid in ("alice@example.test", "bob@example.test", "carol@example.test"):
        sessions.update(jid, ONLINE, stamp=time.time() - 100)
    publisher.publish_all()
    assert pairs_sent(stream) == [("bob", "alice@example.test")]


async def test_without_an_answered_ping_everyone_gets_everything_after_a_reconnect(parts) -> None:
    stream, hub, subscriptions, online = parts
    sessions = ChatSessions()
    sessions.update("alice@example.test", ONLINE)
    publisher = Publisher(stream, hub, subscriptions, lambda: online[0], sessions)
    publisher.publish_all()
    stream.writes.clear()
    sessions.new_stream(publisher.new_stream())  # no keepalive answered: no cutoff
    sessions.update("alice@example.test", ONLINE, stamp=time.time() - 100)
    publisher.publish_all()
    assert len(stream.stanzas()) == 3


async def test_owners_a_resend_cut_by_a_link_loss_had_not_reached_go_to_everyone_next_time(
    store_opener: StoreOpener,
) -> None:
    async with store_opener() as store:
        subscriptions = PhoneSubscriptions(store)
        for i in range(250):
            await subscriptions.add(f"user{i:03}", f"watcher{i:03}@example.test", f"user{i:03}")
        sessions = ChatSessions()
        watchers = [f"watcher{i:03}@example.test" for i in range(250)]
        for jid in watchers:
            sessions.update(jid, ONLINE)
        stream, hub, transport, online = FakeStream(), PresenceHub(), SlowTransport(), [True]
        stream.transport = transport  # type: ignore[attr-defined]
        publisher = Publisher(stream, hub, subscriptions, lambda: online[0], sessions)
        transport.drained = True
        publisher.publish_all()
        await asyncio.wait_for(publishing(), 5)
        publisher.delivered(publisher.checkpoint())  # everyone has everything

        # A reconnect where every watcher logged in anew: everything goes again, paced...
        sessions.new_stream(publisher.new_stream())
        for jid in watchers:
            sessions.update(jid, ONLINE, stamp=time.time() + 100)
        transport.drained = False
        publisher.publish_all()  # 100 owners written, the rest waits for the socket
        resend = publishing()
        publisher.delivered(publisher.checkpoint())  # those 100 arrived
        online[0] = False  # ... and the link dies before the rest is written
        transport.drained = True
        await asyncio.wait_for(resend, 5)
        stream.writes.clear()

        online[0] = True  # next reconnect: their sessions now predate a proven delivery
        sessions.new_stream(publisher.new_stream())
        for jid in watchers:
            sessions.update(jid, ONLINE, stamp=time.time() - 100)
        publisher.publish_all()
        await asyncio.wait_for(publishing(), 5)
        assert len(stream.stanzas()) == 150  # the owners the cut resend never reached


def publishing() -> asyncio.Task[None]:
    return next(t for t in asyncio.all_tasks() if t.get_name() == "publish-all")
