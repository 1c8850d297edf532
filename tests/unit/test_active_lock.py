"""The active lock on a real PostgreSQL: one holder per component domain; the waiter gets it the
moment the holder's session ends; the holder notices when its session is gone."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from store.postgres import ActiveLock

pytestmark = pytest.mark.server


async def test_the_waiter_gets_the_lock_when_the_holders_session_ends(postgres_url: str) -> None:
    holder = ActiveLock(postgres_url, None, "phone.example.test")
    await holder.acquire()
    waiter = ActiveLock(postgres_url, None, "phone.example.test")
    other_domain = ActiveLock(postgres_url, None, "phone.other.test")
    waiting = asyncio.create_task(waiter.acquire())
    try:
        await asyncio.wait_for(other_domain.acquire(), 5)  # another pair: another lock
        await asyncio.sleep(0.5)
        assert not waiting.done()
        await holder.close()
        await asyncio.wait_for(waiting, 5)
    finally:
        waiting.cancel()
        for lock in (holder, waiter, other_domain):
            await lock.close()


async def test_the_holder_sees_its_session_end(postgres_url: str) -> None:
    holder = ActiveLock(postgres_url, None, "phone.example.test")
    await holder.acquire()
    watching = asyncio.create_task(holder.watch(0.2, 2.0))
    try:
        await asyncio.sleep(0.5)
        assert not holder.lost.is_set()
        admin = await asyncpg.connect(postgres_url)
        try:  # as when an operator, a failover proxy or a restart ends the session
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid != pg_backend_pid()"
            )
        finally:
            await admin.close()
        await asyncio.wait_for(watching, 5)
        assert holder.lost.is_set()
    finally:
        watching.cancel()
        await holder.close()


async def test_the_server_probes_the_holder_so_a_vanished_host_releases_the_lock(postgres_url: str) -> None:
    # A host that loses power sends no FIN: PostgreSQL ends the lock's session only when its TCP
    # keepalives fail, by default after more than two hours. The lock's session asks the server
    # to probe it, so the standby takes over in seconds; and not before the holder itself gave
    # up (it stops serving after LOCK_CHECK_INTERVAL + LOCK_CHECK_TIMEOUT): never two active.
    from xmpp_component.pair import LOCK_CHECK_INTERVAL, LOCK_CHECK_TIMEOUT

    holder = ActiveLock(postgres_url, None, "phone.example.test")
    await holder.acquire()
    try:
        connection = holder._connection
        assert connection is not None
        idle, interval, count = [
            int(await connection.fetchval(f"SHOW {name}"))
            for name in ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count")
        ]
        detected_after = idle + interval * count
        assert LOCK_CHECK_INTERVAL + LOCK_CHECK_TIMEOUT < idle <= detected_after <= 15
    finally:
        await holder.close()
