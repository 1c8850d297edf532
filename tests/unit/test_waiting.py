"""wait_event: set, timed out, and a cancellation that arrives as the event is set is not lost."""

from __future__ import annotations

import asyncio

import pytest

from presence.waiting import wait_event


async def test_true_when_set_false_when_the_time_is_up() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 10) is True


async def test_a_cancellation_arriving_with_the_event_ends_the_waiting_loop() -> None:
    event = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            await wait_event(event, 3600)
            event.clear()
            rounds += 1

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)  # the loop now waits on the event
    event.set()
    task.cancel()  # in the same loop iteration as the event: the race wait_for loses on 3.11
    with pytest.raises(asyncio.CancelledError):
        await task
