"""Chat presence that arrives before its user is provisioned (XEP-0356 sends it at connect), and
the record of who can receive that the intake keeps."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from slixmpp import Presence

from presence.hub import PresenceHub
from presence.identity import People, Person
from presence.model import ImShow, UserUuid
from xmpp_component import im_presence
from xmpp_component.im_presence import ImPresenceIntake


def people(*names: str) -> People:
    persons = [Person(f"{n}@example.org", UserUuid(f"uuid-{n}"), n) for n in names]
    return People(
        {p.chat_jid: p for p in persons}, {p.wazo_uuid: p for p in persons}, {p.localpart: p for p in persons}
    )


def presence(sender: str, show: str = "", ptype: str = "") -> Presence:
    pres = Presence()
    pres["from"] = sender
    pres["to"] = "phone.example.org"
    if show:
        pres["show"] = show
    if ptype:
        pres["type"] = ptype
    return pres


class Users:
    def __init__(self) -> None:
        self.now = People()

    def __call__(self) -> People:
        return self.now


@pytest.fixture
def intake(monkeypatch: pytest.MonkeyPatch) -> tuple[ImPresenceIntake, PresenceHub, Users]:
    monkeypatch.setattr(im_presence, "MAX_UNPROVISIONED", 2)
    monkeypatch.setattr(im_presence, "MAX_RESOURCES", 3)
    hub, users = PresenceHub(), Users()
    intake = ImPresenceIntake(None, None, hub, users, None, ("example.org",))  # type: ignore[arg-type]
    # Provisioning talks to the server: only the keeping of presence is under test here.
    monkeypatch.setattr(intake, "_provision", lambda: _nothing())
    return intake, hub, users


async def _nothing() -> None:
    return None


async def test_presence_before_provisioning_counts_once_provisioned_within_bounds(
    intake: tuple[ImPresenceIntake, PresenceHub, Users],
) -> None:
    receiver, hub, users = intake
    await receiver.handle(presence("alice@example.org/laptop", "away"))
    await receiver.handle(presence("bob@example.org/phone", "dnd"))
    await receiver.handle(presence("carol@example.org/web", "xa"))  # over the bound: not kept
    await receiver.handle(presence("mallory@elsewhere.test/x", "chat"))  # not a served domain
    assert hub.im("uuid-alice").show is ImShow.OFFLINE  # nobody provisioned yet

    users.now = people("alice", "bob", "carol", "mallory")
    receiver.on_people_changed()
    assert hub.im("uuid-alice").show is ImShow.AWAY
    assert hub.im("uuid-bob").show is ImShow.DND
    assert hub.im("uuid-carol").show is ImShow.OFFLINE
    assert hub.im("uuid-mallory").show is ImShow.OFFLINE

    # Once provisioned, the bound no longer applies to them: carol now counts like anyone.
    await receiver.handle(presence("carol@example.org/web", "xa"))
    assert hub.im("uuid-carol").show is ImShow.XA


async def test_a_user_who_left_before_provisioning_is_not_kept(
    intake: tuple[ImPresenceIntake, PresenceHub, Users],
) -> None:
    receiver, hub, users = intake
    await receiver.handle(presence("alice@example.org/laptop", "away"))
    await receiver.handle(presence("alice@example.org/laptop", ptype="unavailable"))
    for resource in ("a", "b", "c", "d"):  # more resources than kept: the oldest go
        await receiver.handle(presence(f"bob@example.org/{resource}", "away"))
    users.now = people("alice", "bob")
    receiver.on_people_changed()
    assert hub.im("uuid-alice").show is ImShow.OFFLINE
    assert hub.im("uuid-bob").show is ImShow.AWAY
    await receiver.handle(presence("bob@example.org/b", ptype="unavailable"))
    await receiver.handle(presence("bob@example.org/c", ptype="unavailable"))
    await receiver.handle(presence("bob@example.org/d", ptype="unavailable"))
    assert hub.im("uuid-bob").show is ImShow.OFFLINE  # "a" was the oldest: dropped at the bound


async def test_the_intake_keeps_the_record_of_who_can_receive(
    intake: tuple[ImPresenceIntake, PresenceHub, Users], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver, hub, users = intake
    users.now = people("alice", "bob")

    async def no_store(_jid: str, _state: str) -> None:
        return None

    monkeypatch.setattr(receiver, "_set_approval", no_store)
    sessions = receiver.sessions
    await receiver.handle(presence("alice@example.org/laptop", ptype="unavailable"))
    assert not sessions.may_receive("alice@example.org")  # the server said so
    await receiver.handle(presence("bob@example.org/laptop", ptype="unavailable"))
    await receiver.handle(presence("bob@example.org", ptype="unsubscribed"))
    assert sessions.may_receive("bob@example.org")  # nothing more will be heard: unknown again
    assert hub.im("uuid-bob").show is ImShow.OFFLINE

    # The server's stamp on a re-sent presence (Prosody's XEP-0203 delay) reaches the record:
    # it tells a session that spans a reconnect from one that started during it.
    await receiver.handle(presence("alice@example.org/laptop"))
    await receiver.handle(presence("bob@example.org/laptop"))
    sessions.new_stream(cutoff=datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    await receiver.handle(stamped(presence("alice@example.org/laptop"), "2025-12-31T23:59:00Z"))
    await receiver.handle(stamped(presence("bob@example.org/laptop"), "2026-01-01T00:01:00Z"))
    assert sessions.continued("alice@example.org")
    assert not sessions.continued("bob@example.org")


def stamped(pres: Presence, stamp: str) -> Presence:
    pres.xml.append(ET.Element("{urn:xmpp:delay}delay", {"from": "example.org", "stamp": stamp}))
    return pres


class SlowApprovalStore:
    """Holds the first approval write until ``gate`` opens; later writes land at once."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.rows: dict[str, str] = {}
        self._writes = 0

    async def set_im_subscription(self, user_jid: str, state: str) -> None:
        self._writes += 1
        if self._writes == 1:
            await self.gate.wait()
        self.rows[user_jid] = state

    async def im_subscriptions(self) -> dict[str, str]:
        return dict(self.rows)


class SubscriptionRequests:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send_presence_subscription(self, pto: str, ptype: str) -> None:
        self.sent.append((pto, ptype))


async def test_an_approval_answered_while_its_request_is_stored_stays_approved() -> None:
    # Seen on a loaded machine: the user's client approves before the "pending" of the request
    # is written; that late write must not leave her "pending", which a reconnect never probes.
    store, users = SlowApprovalStore(), Users()
    users.now = people("alice")
    requests = SubscriptionRequests()
    receiver = ImPresenceIntake(requests, store, PresenceHub(), users, None, ("example.org",))  # type: ignore[arg-type]
    asking = asyncio.create_task(receiver.ask_subscription("alice@example.org"))
    await asyncio.sleep(0)  # the request is out, its "pending" being written
    assert requests.sent == [("alice@example.org", "subscribe")]
    answer = asyncio.create_task(receiver.handle(presence("alice@example.org", ptype="subscribed")))
    await asyncio.sleep(0)
    store.gate.set()
    await asyncio.gather(asking, answer)
    assert store.rows == {"alice@example.org": "approved"}
