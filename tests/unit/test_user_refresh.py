"""When Wazo's users are read: coalesced requests, retries after a failure, the periodic read."""

from __future__ import annotations

import asyncio

from presence.backoff import Backoff
from xmpp_component.user_refresh import UserRefresher


class Reads:
    """A read that can be held open, and made to fail or raise, counting its calls."""

    def __init__(self, outcomes: list[bool | Exception] | None = None) -> None:
        self.count = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()
        self._outcomes = outcomes or []

    async def __call__(self) -> bool:
        self.count += 1
        self.started.set()
        await self.gate.wait()
        outcome = self._outcomes.pop(0) if self._outcomes else True
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


async def until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110  # polling a plain counter
            await asyncio.sleep(0.001)


async def test_many_requests_during_a_read_make_one_more_read() -> None:
    reads = Reads()
    refresher = UserRefresher(reads, interval=3600, backoff=Backoff(0.001, 0.002))
    task = asyncio.create_task(refresher.run())
    try:
        reads.gate.clear()
        refresher.request()
        await asyncio.wait_for(reads.started.wait(), 5)
        for _ in range(500):  # a bulk import: one event per user while the read runs
            refresher.request(0.01)
        reads.gate.set()
        await until(lambda: reads.count == 2)
        # A later request is one more read, not one per earlier request.
        refresher.request()
        await until(lambda: reads.count == 3)
        assert refresher.reads == 3
    finally:
        task.cancel()


async def test_a_failed_or_crashed_read_is_retried_until_it_works() -> None:
    reads = Reads([False, RuntimeError("a bug"), True])
    refresher = UserRefresher(reads, interval=3600, backoff=Backoff(0.001, 0.002))
    task = asyncio.create_task(refresher.run())
    try:
        refresher.request()
        await until(lambda: reads.count == 3)
        assert not task.done()  # the refresher survived the exception
    finally:
        task.cancel()


async def test_without_requests_the_list_is_read_every_interval() -> None:
    reads = Reads()
    refresher = UserRefresher(reads, interval=0.01, backoff=Backoff(0.001, 0.002))
    task = asyncio.create_task(refresher.run())
    try:
        await until(lambda: reads.count >= 3)
    finally:
        task.cancel()
