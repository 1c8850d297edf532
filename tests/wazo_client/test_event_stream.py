"""The websocketd v2 event stream against a scripted fake Wazo: protocol, resync, faults."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from presence.model import CallEvent, CallsResynced, LineState, PhoneEvent, PresencesResynced
from presence.sources.wazo.client import WazoClient
from presence.sources.wazo.parsing import SUBSCRIBED_EVENTS
from presence.sources.wazo.tracker import PhoneStateTracker
from tests.wazo_client.fake_wazo import FakeWazo
from tests.wazo_client.payloads import ALICE, BOB, call, presence


class Recorder:
    """Sink that keeps events and feeds a tracker, with a way to wait for a condition."""

    def __init__(self) -> None:
        self.events: list[PhoneEvent] = []
        self.tracker = PhoneStateTracker()
        self._changed = asyncio.Condition()

    async def __call__(self, event: PhoneEvent) -> None:
        self.events.append(event)
        self.tracker.apply(event)
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)


@asynccontextmanager
async def streaming(fake: FakeWazo, **settings: Any) -> AsyncIterator[tuple[WazoClient, Recorder]]:
    recorder = Recorder()
    async with WazoClient(fake.settings(**settings), recorder) as wazo:
        assert wazo.events is not None
        async with asyncio.timeout(10):
            await wazo.events.synced.wait()
        yield wazo, recorder


async def test_subscribes_to_exactly_the_used_events_then_starts_and_resyncs() -> None:
    fake = FakeWazo(presences=[presence(ALICE, "ringing")], calls=[call("c1", ALICE, "Ringing")])
    async with fake, streaming(fake) as (wazo, recorder):
        ops = [f["op"] for f in fake.ws_frames_in]
        assert ops[: len(SUBSCRIBED_EVENTS) + 1] == ["subscribe"] * len(SUBSCRIBED_EVENTS) + ["start"]
        names = [f["data"]["event_name"] for f in fake.ws_frames_in if f["op"] == "subscribe"]
        assert names == list(SUBSCRIBED_EVENTS)
        # token in a header, never in the URL
        assert isinstance(recorder.events[0], PresencesResynced)
        assert isinstance(recorder.events[1], CallsResynced)
        state = recorder.tracker.get(ALICE)
        assert state.line_state is LineState.RINGING
        assert [c.call_id for c in state.calls] == ["c1"]

        await fake.push("call_answered", call("c1", ALICE, "Up"))
        await fake.push("chatd_presence_updated", presence(ALICE, "talking"))
        await recorder.wait_for(lambda: recorder.tracker.get(ALICE).line_state is LineState.TALKING)
        assert recorder.tracker.get(ALICE).calls[0].status.value == "up"
        assert wazo.events is not None
        assert wazo.events.connections == 1


async def test_malformed_frames_and_events_are_skipped_logged_and_the_stream_continues(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeWazo(presences=[presence(ALICE)])
    async with fake, streaming(fake) as (wazo, recorder):
        await fake.send_raw("this is not json")
        await fake.send_raw(json.dumps({"op": "event", "code": 0, "data": {"no": "name"}}))
        await fake.push("call_created", {**call("c9", ALICE), "call_id": 42})
        await fake.push("chatd_presence_updated", {**presence(ALICE), "line_state": "exploded"})
        await fake.push("chatd_presence_updated", presence(ALICE, "ringing"))
        await recorder.wait_for(lambda: recorder.tracker.get(ALICE).line_state is LineState.RINGING)
        assert wazo.events is not None
        assert wazo.events.events_skipped == 4
        assert wazo.events.connections == 1
        assert recorder.tracker.get(ALICE).calls == ()
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("not a JSON object" in m for m in messages)
    assert any("call_created" in m and "'call_id'" in m for m in messages)
    assert any("chatd_presence_updated" in m and "'line_state'" in m for m in messages)


async def test_drop_reconnects_and_resynchronises_what_changed_meanwhile() -> None:
    fake = FakeWazo(presences=[presence(ALICE, "talking")], calls=[call("c1", ALICE, "Up")])
    async with fake, streaming(fake) as (wazo, recorder):
        assert wazo.events is not None
        fake.presences = [presence(ALICE, "available"), presence(BOB, "ringing")]
        fake.calls = [call("c2", BOB, "Ringing")]
        await fake.drop(1011)
        await recorder.wait_for(lambda: wazo.events is not None and wazo.events.resyncs == 2)
        assert wazo.events.connections == 2
        assert recorder.tracker.get(ALICE).line_state is LineState.AVAILABLE
        assert recorder.tracker.get(ALICE).calls == ()  # ended while we were away
        assert [c.call_id for c in recorder.tracker.get(BOB).calls] == ["c2"]


async def test_chatd_not_initialized_during_resync_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeWazo(presences=[presence(ALICE, "ringing")], chatd_not_initialized=2)
    async with fake, streaming(fake) as (_, recorder):
        assert recorder.tracker.get(ALICE).line_state is LineState.RINGING
        assert len(fake.requests_to("GET", "/api/chatd/1.0/users/presences")) == 3
    assert sum("resynchronisation incomplete" in r.getMessage() for r in caplog.records) == 2


async def test_events_arriving_during_resync_are_replayed_after_the_snapshot() -> None:
    # The event must reach the client while chatd's answer is held back; were it late, the test
    # would pass without testing the replay, so the hold leaves a loaded machine a second.
    fake = FakeWazo(presences=[presence(ALICE, "ringing")], presence_list_delay_s=1.0)
    recorder = Recorder()
    async with fake, WazoClient(fake.settings(), recorder) as wazo:
        assert wazo.events is not None
        await fake.wait_until(
            lambda: (
                fake.started_sockets > 0 and bool(fake.requests_to("GET", "/api/chatd/1.0/users/presences"))
            )
        )
        # The snapshot (ringing) was read before this event (talking) happened.
        await fake.push("chatd_presence_updated", presence(ALICE, "talking"))
        await asyncio.wait_for(wazo.events.synced.wait(), 10)
    kinds = [type(e).__name__ for e in recorder.events]
    assert kinds == ["PresencesResynced", "CallsResynced", "PhoneSnapshot"]
    assert recorder.tracker.get(ALICE).line_state is LineState.TALKING


async def test_renewed_token_is_passed_with_the_token_op_without_reconnecting() -> None:
    fake = FakeWazo(token_lifetime_s=0.4)
    async with fake, streaming(fake) as (wazo, _):
        await fake.wait_until(lambda: any(f["op"] == "token" for f in fake.ws_frames_in))
        sent = next(f for f in fake.ws_frames_in if f["op"] == "token")
        assert sent["data"]["token"] in fake.tokens_issued[1:]
        assert wazo.events is not None
        assert wazo.events.connections == 1


async def test_auth_expired_close_gets_a_new_token_and_reconnects() -> None:
    fake = FakeWazo(presences=[presence(ALICE)])
    async with fake, streaming(fake) as (wazo, recorder):
        fake.revoke_all_tokens()
        await fake.drop(4003)
        await recorder.wait_for(lambda: wazo.events is not None and wazo.events.resyncs == 2)
        assert len(fake.tokens_issued) == 2


async def test_app_level_ping_gets_pongs() -> None:
    # The client drops a stream without a pong for 2.5 intervals: by its third ping it would have
    # dropped one whose pongs it ignored. The interval leaves a loaded machine 0.6 s of slack.
    fake = FakeWazo()
    async with fake, streaming(fake, ws_ping_interval_s=0.25) as (wazo, _):
        await fake.wait_until(lambda: sum(f["op"] == "ping" for f in fake.ws_frames_in) >= 3, 10)
        pings = [f for f in fake.ws_frames_in if f["op"] == "ping"]
        assert all(isinstance(p["data"]["payload"], str) for p in pings)
        assert wazo.events is not None
        assert wazo.events.connections == 1


async def test_call_events_flow_into_the_tracker() -> None:
    fake = FakeWazo()
    async with fake, streaming(fake) as (_, recorder):
        await fake.push("call_created", call("c1", BOB, "Ringing", peer_number="1001", peer_name="Alice"))
        await fake.push("call_answered", call("c1", BOB, "Up", peer_number="1001", peer_name="Alice"))
        await fake.push("call_held", {"call_id": "c1", "user_uuid": BOB})
        await recorder.wait_for(lambda: sum(isinstance(e, CallEvent) for e in recorder.events) == 3)
        held = recorder.tracker.get(BOB).calls[0]
        assert (held.status.value, held.peer_name, held.peer_number) == ("held", "Alice", "1001")
        await fake.push("call_ended", call("c1", BOB, "Up"))
        await recorder.wait_for(lambda: recorder.tracker.get(BOB).calls == ())
