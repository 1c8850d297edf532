"""The call rules' plumbing: settings and routing records kept in the store, and a Wazo failure
retried with backoff until the routing is applied."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from presence.hub import PresenceHub
from presence.identity import People, Person
from presence.model import ImShow, ImState
from presence.sources.wazo.confd import Forward as WazoForward
from presence.sources.wazo.confd import ForwardKind, Forwards
from presence.sources.wazo.errors import WazoError
from rules.model import CallTarget, Forward, Interval, PbxRouting, RuleSettings, Target
from rules.reconcile import NO_RECORD, Override, RoutingRecord
from tests.conftest import StoreOpener
from xmpp_component.call_rules import CallRules, record_from_json, record_to_json
from xmpp_component.user_settings import UserSettings

ALICE = Person("alice@example.test", "uuid-alice", "alice")


def test_routing_records_round_trip_as_json() -> None:
    record = RoutingRecord(
        Override(PbxRouting(forward=Forward(False, "+4930")), PbxRouting(dnd=True), confirmed=True),
        yielded=PbxRouting(forward=Forward(True, "1002")),
    )
    text = record_to_json(record)
    assert text is not None
    assert record_from_json(text) == record
    assert record_to_json(NO_RECORD) is None


async def test_call_rules_settings_are_kept_and_malformed_ones_logged(
    store_opener: StoreOpener, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rules = RuleSettings(meeting_busy=False, dnd_calls=CallTarget(Target.NUMBER, "+33123456789"))
    async with store_opener() as store:
        settings = UserSettings(store)
        await settings.load()
        await settings.set_call_rules("uuid-alice", "alice@example.test", rules)
        await store.save_settings("bob@example.test", '{"call_rules": {"meeting_busy": "yes"}}', "uuid-bob")
        await store.save_call_routing(
            "uuid-alice", record_to_json(RoutingRecord(yielded=PbxRouting(dnd=True)))
        )
        reloaded = UserSettings(store)
        await reloaded.load()
        assert reloaded.call_rules("uuid-alice") == rules
        assert reloaded.call_rules("uuid-bob") == RuleSettings()
        assert "settings of bob@example.test: key 'call_rules' is malformed" in caplog.text
        assert list(await store.all_call_routing()) == ["uuid-alice"]
        await store.save_call_routing("uuid-alice", None)
        assert await store.all_call_routing() == {}


class FlakyConfd:
    """confd that fails the first ``failures`` reads, then behaves."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.dnd = False
        self.forward = WazoForward()

    async def get_user(self, _uuid: str) -> Any:
        if self.failures:
            self.failures -= 1
            raise WazoError("confd", 503, "unavailable", "try later")
        return type("User", (), {"has_voicemail": True})()

    async def get_dnd(self, _uuid: str) -> bool:
        return self.dnd

    async def get_forwards(self, _uuid: str) -> Forwards:
        return Forwards(unconditional=self.forward)

    async def set_dnd(self, _uuid: str, enabled: bool) -> None:
        self.dnd = enabled

    async def set_forward(self, _uuid: str, _kind: ForwardKind, forward: WazoForward) -> None:
        self.forward = forward


async def test_a_wazo_failure_is_retried_until_the_routing_is_applied(
    store_opener: StoreOpener, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    confd = FlakyConfd(failures=2)
    wazo = type("Wazo", (), {"confd": confd})()
    people = People({ALICE.chat_jid: ALICE}, {ALICE.wazo_uuid: ALICE}, {ALICE.localpart: ALICE})
    hub = PresenceHub()
    hub.apply_im(ALICE.wazo_uuid, ImState(ImShow.AVAILABLE))
    async with store_opener() as store:
        settings = UserSettings(store)
        await settings.load()
        await settings.set_call_rules(
            ALICE.wazo_uuid, ALICE.chat_jid, RuleSettings(meeting_calls=CallTarget(Target.VOICEMAIL))
        )
        rules = CallRules(hub, settings, store, lambda: people, lambda: wazo)  # type: ignore[arg-type,return-value]
        now = datetime.now(UTC)
        with caplog.at_level(logging.WARNING):
            rules.on_intervals(
                ALICE.wazo_uuid, (Interval(now - timedelta(minutes=1), now + timedelta(hours=1)),)
            )
            assert hub.calendar(ALICE.wazo_uuid).busy
            for _ in range(100):  # two failures: retried after about 0.5-1 s, then 1-2 s
                if confd.dnd:
                    break
                await asyncio.sleep(0.1)
        rules.close()
        assert confd.dnd is True
        assert caplog.text.count("call routing of alice not applied") == 2
        assert rules.record(ALICE.wazo_uuid).override is not None


async def test_started_during_a_meeting_the_routing_waits_for_the_calendar_instead_of_flapping(
    store_opener: StoreOpener,
) -> None:
    # A previous run (or the killed active instance) diverted alice's calls to voicemail for a
    # meeting, and stored that. The new run knows the record before it has read her calendar.
    confd = FlakyConfd(failures=0)
    confd.dnd = True  # what the previous run put on her PBX
    wazo = type("Wazo", (), {"confd": confd})()
    people = People({ALICE.chat_jid: ALICE}, {ALICE.wazo_uuid: ALICE}, {ALICE.localpart: ALICE})
    hub = PresenceHub()
    hub.apply_im(ALICE.wazo_uuid, ImState(ImShow.AVAILABLE))
    written: list[bool] = []
    set_dnd = confd.set_dnd

    async def recording_set_dnd(uuid: str, enabled: bool) -> None:
        written.append(enabled)
        await set_dnd(uuid, enabled)

    confd.set_dnd = recording_set_dnd  # type: ignore[method-assign]
    async with store_opener() as store:
        settings = UserSettings(store)
        await settings.load()
        await settings.set_call_rules(
            ALICE.wazo_uuid, ALICE.chat_jid, RuleSettings(meeting_calls=CallTarget(Target.VOICEMAIL))
        )
        override = Override(PbxRouting(), PbxRouting(dnd=True), confirmed=True)
        await store.save_call_routing(ALICE.wazo_uuid, record_to_json(RoutingRecord(override)))
        rules = CallRules(hub, settings, store, lambda: people, lambda: wazo)  # type: ignore[arg-type,return-value]
        await rules.load()
        rules.hold_until_calendar_read()
        rules.on_people()  # Wazo's users read: the calendar not yet
        await asyncio.sleep(0.5)
        assert written == []  # nothing given back before her meetings are known
        now = datetime.now(UTC)
        rules.on_intervals(ALICE.wazo_uuid, (Interval(now - timedelta(minutes=5), now + timedelta(hours=1)),))
        await asyncio.sleep(0.5)
        rules.close()
        assert written == []  # still in the meeting: the routing stays as it was, never undone
        assert confd.dnd is True
        assert rules.record(ALICE.wazo_uuid).override is not None


async def test_after_a_read_of_users_only_decisions_that_change_a_presence_are_taken_at_once(
    store_opener: StoreOpener,
) -> None:
    # Alice has a record (a restart left our DND on her PBX: her presence depends on it); Bob has
    # none and no meeting known, so deciding for him sets nothing in the hub: it waits until the
    # first presences went out (decide_later), then his rule (chat DND -> voicemail) is applied.
    bob = Person("bob@example.test", "uuid-bob", "bob")
    confd = FlakyConfd(failures=0)
    confd.dnd = True
    wazo = type("Wazo", (), {"confd": confd})()
    people = People(
        {p.chat_jid: p for p in (ALICE, bob)},
        {p.wazo_uuid: p for p in (ALICE, bob)},
        {p.localpart: p for p in (ALICE, bob)},
    )
    hub = PresenceHub()
    hub.apply_im(ALICE.wazo_uuid, ImState(ImShow.AVAILABLE))
    hub.apply_im(bob.wazo_uuid, ImState(ImShow.DND))
    written: list[str] = []  # whose routing was written
    set_forward, set_dnd = confd.set_forward, confd.set_dnd

    async def recording_set_forward(uuid: str, kind: ForwardKind, forward: WazoForward) -> None:
        written.append(uuid)
        await set_forward(uuid, kind, forward)

    async def recording_set_dnd(uuid: str, enabled: bool) -> None:
        written.append(uuid)
        await set_dnd(uuid, enabled)

    confd.set_forward = recording_set_forward  # type: ignore[method-assign]
    confd.set_dnd = recording_set_dnd  # type: ignore[method-assign]
    async with store_opener() as store:
        settings = UserSettings(store)
        await settings.load()
        await settings.set_call_rules(
            bob.wazo_uuid, bob.chat_jid, RuleSettings(dnd_calls=CallTarget(Target.VOICEMAIL))
        )
        override = Override(PbxRouting(), PbxRouting(dnd=True), confirmed=True)
        await store.save_call_routing(ALICE.wazo_uuid, record_to_json(RoutingRecord(override)))
        rules = CallRules(hub, settings, store, lambda: people, lambda: wazo)  # type: ignore[arg-type,return-value]
        await rules.load()
        later = rules.on_people()
        assert later == [bob.wazo_uuid]
        await asyncio.sleep(0.3)
        assert bob.wazo_uuid not in written  # nothing decided for bob yet
        await rules.decide_later(later)
        for _ in range(50):
            if bob.wazo_uuid in written:
                break
            await asyncio.sleep(0.05)
        rules.close()
    assert bob.wazo_uuid in written
