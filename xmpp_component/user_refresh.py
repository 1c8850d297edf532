"""When to read Wazo's user list again: on request (coalesced), after a failure (backoff), and
every ``interval`` seconds as a safety net.

A bulk import in confd publishes one ``user_created`` per user; each asks for a read, and the
requests that arrive while one is pending or running make one more read, not hundreds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from presence.backoff import Backoff
from presence.waiting import wait_event

log = logging.getLogger(__name__)


class UserRefresher:
    def __init__(self, read: Callable[[], Awaitable[bool]], *, interval: float, backoff: Backoff) -> None:
        self._read = read  # True when the list was read and applied
        self._interval = interval
        self._backoff = backoff
        self._wanted = asyncio.Event()
        self._delay = 0.0
        self.reads = 0

    def request(self, delay: float = 0.0) -> None:
        """Read soon: after ``delay`` seconds, so that a burst of events is read once."""
        if not self._wanted.is_set():
            self._delay = delay
        else:
            self._delay = min(self._delay, delay)
        self._wanted.set()

    async def run(self) -> None:
        while True:
            # Past the interval without a request: the periodic safety net (confd events are
            # lost while the event stream is down, or if an ACL is missing).
            await wait_event(self._wanted, self._interval)
            if self._wanted.is_set() and self._delay > 0:
                await asyncio.sleep(self._delay)
            await self._read_until_done()

    async def _read_until_done(self) -> None:
        while True:
            # Cleared before reading: a request arriving during the read makes one more read.
            self._wanted.clear()
            self.reads += 1
            try:
                done = await self._read()
            except Exception:
                # A bug must not end the reads for good: say so loudly and retry like a failure.
                log.exception("reading Wazo's users failed unexpectedly")
                done = False
            if done:
                self._backoff.reset()
                return
            delay = self._backoff.next_delay()
            log.warning("reading Wazo's users again in %.1f s", delay)
            await asyncio.sleep(delay)
