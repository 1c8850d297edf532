"""The call history adapter with a real store: a user without a voicemail box hears of a missed
call at once, one with a box only once the wait passed without a voicemail; a failed store
write is logged and the next calls are still recorded."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC
from pathlib import Path

import pytest

from presence.identity import MatchRule, PbxUser, build_people
from presence.model import Call, CallEvent, CallEventKind, CallStatus, VoicemailReceived
from store import Store
from xmpp_component.call_history import CallHistory
from xmpp_component.config import CallsSection
from xmpp_component.user_settings import UserSettings

ALICE = "11111111-1111-4111-8111-111111111111"
PEOPLE = build_people([PbxUser(ALICE, email="alice@example.test")], MatchRule.EMAIL, ["example.test"])[0]


def ringing(call_id: str, kind: CallEventKind) -> CallEvent:
    call = Call(call_id, ALICE, CallStatus.RINGING, "1002", "Bob Brown", conversation_id=call_id)
    return CallEvent(kind, call)


async def history(store: Store, sent: list[tuple[str, str]], *, box: bool, wait: float) -> CallHistory:
    settings = UserSettings(store)
    await settings.load()
    return CallHistory(
        store,
        settings,
        lambda: PEOPLE,
        lambda jid, body: sent.append((jid, body)),
        component_jid="phone.example.test",
        calls=lambda: replace(CallsSection(), missed_call_wait=wait),
        zone=UTC,
        has_voicemail=lambda _uuid: box,
    )


async def settle(history: CallHistory) -> None:
    await asyncio.wait_for(history._jobs.join(), 5)
    await asyncio.sleep(0)  # a notice due now (call_later(0)) runs
    await asyncio.wait_for(history._jobs.join(), 5)  # and is written on the writer's queue


async def test_without_a_voicemail_box_the_missed_call_notice_is_sent_at_once(tmp_path: Path) -> None:
    sent: list[tuple[str, str]] = []
    async with Store(tmp_path / "db.sqlite") as store:
        calls = await history(store, sent, box=False, wait=600)
        await calls.on_event(ringing("c1", CallEventKind.CREATED))
        await calls.on_event(ringing("c1", CallEventKind.ENDED))
        await settle(calls)
        assert [jid for jid, _body in sent] == ["alice@example.test"]
        assert sent[0][1].startswith("Missed call from Bob Brown (1002) at ")
        await calls.close()


async def test_with_a_box_a_voicemail_within_the_wait_drops_the_notice(tmp_path: Path) -> None:
    sent: list[tuple[str, str]] = []
    async with Store(tmp_path / "db.sqlite") as store:
        calls = await history(store, sent, box=True, wait=0.2)
        await calls.on_event(ringing("c1", CallEventKind.CREATED))
        await calls.on_event(ringing("c1", CallEventKind.ENDED))
        await calls.on_event(VoicemailReceived(ALICE, "m1", "1002", "Bob Brown", 5))
        await settle(calls)
        await asyncio.sleep(0.3)  # past the wait: the notice would be out by now
        assert sent == []
        assert [e.outcome.value for e in await calls.recent(ALICE, 5)] == ["voicemail"]
        # without a voicemail, the notice goes after the wait
        await calls.on_event(ringing("c2", CallEventKind.ENDED))
        await settle(calls)
        assert sent == []
        await asyncio.sleep(0.3)
        assert len(sent) == 1
        await calls.close()


async def test_a_failed_write_is_logged_and_the_next_call_is_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[tuple[str, str]] = []
    async with Store(tmp_path / "db.sqlite") as store:
        calls = await history(store, sent, box=False, wait=0)
        await store.db.execute("DROP TABLE call_history")
        await calls.on_event(ringing("c1", CallEventKind.ENDED))
        await settle(calls)
        assert "a store write failed" in caplog.text
        await store.db.execute(
            "CREATE TABLE call_history (user_uuid TEXT, call_key TEXT, direction TEXT, outcome TEXT, number "
            "TEXT, name TEXT, started_at BIGINT, duration_s INTEGER, PRIMARY KEY (user_uuid, call_key))"
        )
        await calls.on_event(ringing("c2", CallEventKind.ENDED))
        await settle(calls)
        assert [e.key for e in await calls.recent(ALICE, 5)] == ["c2"]
        await calls.close()


async def test_a_call_ending_while_the_history_closes_is_written_and_no_writer_is_left_running(
    tmp_path: Path,
) -> None:
    # At shutdown the Wazo stream may still deliver an event while the queued writes are flushed.
    sent: list[tuple[str, str]] = []
    async with Store(tmp_path / "db.sqlite") as store:
        calls = await history(store, sent, box=False, wait=600)
        await calls.on_event(ringing("c1", CallEventKind.ENDED))
        closing = asyncio.ensure_future(calls.close())
        await asyncio.sleep(0)  # close() is flushing the queue
        await calls.on_event(ringing("c2", CallEventKind.ENDED))
        await asyncio.wait_for(closing, 10)
        await asyncio.sleep(0.1)
        writers = [t for t in asyncio.all_tasks() if t.get_name() == "call-history" and not t.done()]
        assert writers == []  # nothing left to write to a store about to close
        assert sorted(e.key for e in await calls.recent(ALICE, 5)) == ["c1", "c2"]


async def test_calls_ending_together_are_all_recorded_in_order_with_their_notices(tmp_path: Path) -> None:
    # Calls that end while a write is in progress are written together; a voicemail between
    # them still finds its call, and every missed call gets its notice.
    sent: list[tuple[str, str]] = []
    async with Store(tmp_path / "db.sqlite") as store:
        calls = await history(store, sent, box=False, wait=0)
        for i in range(6):
            await calls.on_event(ringing(f"c{i}", CallEventKind.CREATED))
        await calls.on_event(ringing("c0", CallEventKind.ENDED))
        await asyncio.sleep(0)  # the writer has taken c0: the next ones queue behind it
        for i in (1, 2, 3):
            await calls.on_event(ringing(f"c{i}", CallEventKind.ENDED))
        await calls.on_event(VoicemailReceived(ALICE, "m1", "1002", "Bob Brown", 5))  # for c3
        for i in (4, 5):
            await calls.on_event(ringing(f"c{i}", CallEventKind.ENDED))
        await settle(calls)
        await asyncio.sleep(0.05)
        await settle(calls)
        recent = await calls.recent(ALICE, 10)
        assert sorted(e.key for e in recent) == [f"c{i}" for i in range(6)]
        assert {e.key: e.outcome.value for e in recent}["c3"] == "voicemail"
        assert len(sent) == 6  # no voicemail box here: each missed call is told at once
        await calls.close()
