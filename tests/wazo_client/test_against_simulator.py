"""The Wazo client against the project's Wazo simulator: a scripted day, and start-up faults.

After each step the tracker fed by the client's event stream must equal the simulator's truth
(``GET /_sim/state``): line state, per-line states, DND and every call with its status and peer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from presence.sources.wazo.client import WazoClient
from presence.sources.wazo.config import Secret, WazoSettings
from tests.wazo_client.sim_driver import SERVICE_PASSWORD, SERVICE_USERNAME, SimDriver, differences
from tests.wazo_client.test_event_stream import Recorder
from wazo_sim.app import WazoSimulator


def sim_settings(sim: WazoSimulator, **overrides: Any) -> WazoSettings:
    values: dict[str, Any] = {
        "base_url": sim.base_url,
        "username": SERVICE_USERNAME,
        "password": Secret(SERVICE_PASSWORD),
        "request_timeout_s": 2.0,
        "reconnect_initial_delay_s": 0.02,
        "reconnect_max_delay_s": 0.1,
    }
    values.update(overrides)
    return WazoSettings(**values)


@asynccontextmanager
async def simulated_wazo() -> AsyncIterator[tuple[WazoSimulator, SimDriver]]:
    async with WazoSimulator() as sim, aiohttp.ClientSession() as session:
        yield sim, SimDriver(session, sim.base_url)


async def assert_converges(driver: SimDriver, recorder: Recorder, step: str, timeout: float = 10.0) -> None:
    """Wait until the tracker agrees with the simulator; fail naming the step and the gaps."""
    deadline = asyncio.get_running_loop().time() + timeout
    while problems := differences(recorder.tracker, await driver.state()):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"after {step!r} the tracker disagrees with the simulator: {problems}")
        await asyncio.sleep(0.02)


INCOMPLETE = "resynchronisation incomplete"


async def wait_for_log(
    caplog: pytest.LogCaptureFixture, text: str, count: int, timeout: float = 10.0
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while sum(text in r.getMessage() for r in caplog.records) < count:
        assert asyncio.get_running_loop().time() < deadline, f"fewer than {count} log lines with {text!r}"
        await asyncio.sleep(0.01)


async def test_scripted_day_tracker_matches_simulator_truth(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with simulated_wazo() as (sim, driver):
        # chatd still starting when we first resync: it comes up once the client has seen that.
        await driver.chatd_unavailable(3600)
        recorder = Recorder()
        async with WazoClient(sim_settings(sim), recorder) as wazo:
            events = wazo.events
            assert events is not None
            await wait_for_log(caplog, INCOMPLETE, count=1)
            await driver.chatd_unavailable(0)
            await asyncio.wait_for(events.synced.wait(), 10)
            await assert_converges(driver, recorder, "start-up with chatd 503")

            bob_to_alice = await driver.ring("alice", from_user="bob")
            await assert_converges(driver, recorder, "bob calls alice, alice rings")
            await driver.answer("alice")
            await assert_converges(driver, recorder, "alice answers")
            await driver.call_action(bob_to_alice["call_id"], "hold")
            await assert_converges(driver, recorder, "alice holds")
            await driver.call_action(bob_to_alice["call_id"], "resume")
            await assert_converges(driver, recorder, "alice resumes")

            await driver.dnd("carol", True)
            await assert_converges(driver, recorder, "carol sets DND")
            await driver.dnd("carol", False)
            await driver.ring("bob", from_user="carol")  # bob is on the phone and gets a 2nd call
            await assert_converges(driver, recorder, "carol calls bob during his call")

            # The websocket drops mid-call and the call ends while we are away.
            await driver.drop_websockets()
            await driver.hangup_user("alice")
            await assert_converges(driver, recorder, "websocket drop, hangup while down")
            assert events.connections >= 2

            await driver.answer("bob")
            await assert_converges(driver, recorder, "bob answers carol")
            # Every token expires: websocketd closes 4003, REST calls get 401.
            await driver.expire_tokens()
            await driver.call_action((await driver.state())["users"]["bob"]["calls"][0]["call_id"], "hold")
            await assert_converges(driver, recorder, "token expiry, hold meanwhile")
            assert wazo.tokens.tokens_created >= 2
            calls = await wazo.calld.list_calls()  # REST works with the re-created token
            assert {c.user_uuid for c in calls} == {sim.config.users[1].uuid, sim.config.users[2].uuid}

            # chatd restarts while the stream reconnects.
            incomplete = sum(INCOMPLETE in r.getMessage() for r in caplog.records)
            await driver.chatd_unavailable(3600)
            await driver.drop_websockets()
            await driver.registered("alice", False)
            await wait_for_log(caplog, INCOMPLETE, count=incomplete + 1)
            await driver.chatd_unavailable(0)
            await assert_converges(driver, recorder, "reconnect during a chatd restart")

            await driver.hangup_user("bob")
            await driver.registered("alice", True)
            await driver.dnd("alice", True)
            await assert_converges(driver, recorder, "end of day")
            assert events.connections >= 4
            assert events.resyncs == events.connections
    assert SERVICE_PASSWORD not in caplog.text


async def test_auth_down_at_start_up_then_up(caplog: pytest.LogCaptureFixture) -> None:
    async with simulated_wazo() as (sim, driver):
        # Point the client at the simulator's port before the simulator's auth answers: a
        # wrong auth URL (refused) first, then the real one, swapped while the client retries.
        settings = sim_settings(sim)
        recorder = Recorder()
        wazo = WazoClient(settings, recorder)
        original = wazo.http._settings
        wazo.http._settings = sim_settings(sim, auth_url="http://127.0.0.1:9/api/auth/0.1")
        starting = asyncio.create_task(wazo.start())
        try:
            await wait_for_log(caplog, "Cannot get a Wazo service token", count=2)
            assert not starting.done()
            wazo.http._settings = original
            await asyncio.wait_for(starting, 10)
            assert wazo.events is not None
            await asyncio.wait_for(wazo.events.synced.wait(), 10)
            await assert_converges(driver, recorder, "start after auth came back")
        finally:
            await wazo.close()
    failures = [r.getMessage() for r in caplog.records if "Cannot get a Wazo service token" in r.getMessage()]
    assert len(failures) >= 2
    assert "auth POST /token" in failures[0]
    assert "connection-failed" in failures[0]


async def test_malformed_event_from_simulator_is_skipped_and_stream_continues(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with simulated_wazo() as (sim, driver):
        recorder = Recorder()
        async with WazoClient(sim_settings(sim), recorder) as wazo:
            assert wazo.events is not None
            await asyncio.wait_for(wazo.events.synced.wait(), 10)
            await driver.inject('{"op": "event", "code": 0, "data": {"name": "call_created", "data": {}}}')
            await driver.inject("{broken")
            await driver.ring("carol", from_user="alice")
            await assert_converges(driver, recorder, "events after malformed ones")
            assert wazo.events.events_skipped == 2
            assert wazo.events.connections == 1
    assert any("call_created" in r.getMessage() and "'call_id'" in r.getMessage() for r in caplog.records)


async def test_a_lost_call_ended_is_undone_by_the_periodic_reconciliation() -> None:
    async with simulated_wazo() as (sim, driver):
        recorder = Recorder()
        async with WazoClient(sim_settings(sim, calls_reconcile_interval_s=0.2), recorder) as wazo:
            assert wazo.events is not None
            await asyncio.wait_for(wazo.events.synced.wait(), 5)
            await driver.ring("carol", from_user="alice")
            await assert_converges(driver, recorder, "alice calls carol")
            await driver.lose_events("call_ended", 2)  # both legs' ends never reach the bus
            await driver.hangup_user("alice")
            await assert_converges(driver, recorder, "hang-up whose call_ended was lost")
            assert wazo.events.connections == 1  # corrected on the live stream, no reconnection
            assert wazo.events.reconciliations >= 1


async def test_one_malformed_presence_or_call_is_skipped_with_its_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with simulated_wazo() as (sim, driver):
        await driver.ring("carol", from_user="alice")
        await driver.malformed("chatd", 1000)  # every list from now on has one bad item
        await driver.malformed("calld", 1000)
        recorder = Recorder()
        async with WazoClient(sim_settings(sim), recorder) as wazo:
            assert wazo.events is not None
            await asyncio.wait_for(wazo.events.synced.wait(), 5)
            await assert_converges(driver, recorder, "resync with a malformed presence and call")
    lines = [r.getMessage() for r in caplog.records]
    assert any("chatd GET /users/presences" in m and "'line_state'" in m for m in lines), lines
    assert any("calld GET /calls" in m and "'status'" in m for m in lines), lines


async def test_too_many_events_during_a_resync_drop_the_stream_and_resync_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with simulated_wazo() as (sim, driver):
        await driver.chatd_unavailable(0.6)  # the first resync waits for chatd...
        recorder = Recorder()
        async with WazoClient(sim_settings(sim, max_held_back_events=5), recorder) as wazo:
            assert wazo.events is not None
            await wait_until_holding_back(wazo)
            for _ in range(4):  # ...while 16 events arrive: more than 5 are held back
                await driver.dnd("carol", True)
                await driver.dnd("carol", False)
            await driver.dnd("bob", True)
            await asyncio.wait_for(wazo.events.synced.wait(), 5)
            await assert_converges(driver, recorder, "resync after an overflow of held-back events")
            assert wazo.events.connections >= 2
    assert any("during a resynchronisation" in r.getMessage() for r in caplog.records)


async def wait_until_holding_back(wazo: WazoClient) -> None:
    """Until the stream is started and its resynchronisation holds events back."""
    events = wazo.events
    assert events is not None
    for _ in range(250):
        if events._held_back is not None:
            return
        await asyncio.sleep(0.01)
    pytest.fail("the event stream never started its resynchronisation")
