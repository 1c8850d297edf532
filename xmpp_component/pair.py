"""One instance of an active/standby pair sharing a PostgreSQL store.

Both instances run with the same configuration. Each opens the store (so a standby has its
configuration and schema checked) and then waits for the advisory lock of the component's
domain; the one holding it connects to the XMPP server and to Wazo, the other reports
``standby`` and waits. The lock lives on a PostgreSQL session of its own, which PostgreSQL ends
when the active process dies: the standby gets the lock at that moment and takes over, loading
subscriptions, settings and routing records from the store as any start does.

An active instance that loses that session (PostgreSQL stopped, a partition) cannot know that
the other has not taken the lock meanwhile, so it stops serving at once: it closes its XMPP
stream without a goodbye (the other instance may already be publishing) and exits with status
3. Its service manager starts it again, and it comes back as the standby (or as the active one,
once PostgreSQL answers and the lock is free). Exiting, rather than going back to standby in the
same process, leaves no half-torn-down state behind.
"""

from __future__ import annotations

import asyncio
import logging

from presence.backoff import Backoff
from store.postgres import ActiveLock

log = logging.getLogger(__name__)

# The holder checks its lock session this often, and gives up on it after this long without an
# answer (a partition sends no FIN): at most ~4 s of serving without the lock.
LOCK_CHECK_INTERVAL = 1.0
LOCK_CHECK_TIMEOUT = 3.0


class PairMember:
    def __init__(self, url: str, password: str | None, component: str) -> None:
        self.component = component
        self.lock = ActiveLock(url, password, component)
        self.role = "standby"

    async def wait_until_active(self) -> None:
        """Return once this instance holds the lock; retry while PostgreSQL cannot be reached."""
        retry = Backoff(0.5, 10.0)
        log.info(
            "standby: waiting for the active lock of %s (another instance may be active)", self.component
        )
        while True:
            try:
                await self.lock.acquire()
            except Exception as error:  # unreachable, restarting, refusing: all retried
                delay = retry.next_delay()
                log.warning(
                    "standby: cannot wait for the active lock (%s); trying again in %.1f s",
                    str(error) or type(error).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            self.role = "active"
            log.info("active: holding the lock of %s; connecting", self.component)
            return

    async def watch(self) -> None:
        """Return when the lock's session is lost (the caller must stop serving)."""
        await self.lock.watch(LOCK_CHECK_INTERVAL, LOCK_CHECK_TIMEOUT)

    async def close(self) -> None:
        await self.lock.close()
