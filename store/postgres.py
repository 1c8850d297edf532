"""The component's store on PostgreSQL: the same tables, migrations story and queries as
:mod:`store.db`, for two instances (active and standby) sharing one database.

Driver: asyncpg. It speaks PostgreSQL's protocol itself (no libpq to install or match), is
asyncio-native (psycopg 3's async mode wraps a libpq connection), prepares and caches each
statement, and its pool gives each concurrent task a connection of its own, where the SQLite
store's single connection serialises them. Its query results are plain ``Record`` tuples.

Columns keep SQLite's types (timestamps are ISO-8601 text in UTC), so ``migrate-store`` copies
rows as they are and both stores answer byte-for-byte the same. Each migration runs in one
transaction under a transaction-level advisory lock, so two instances starting together against
a new database never both migrate it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import asyncpg

from store.api import CallRow, WazoUserRow, bounded_call_row
from store.db import SchemaError

log = logging.getLogger(__name__)

# The expression SQLite's tables use for their text timestamps, in PostgreSQL's dialect (the
# queries write ``updated_at = DEFAULT`` to get it again).
NOW = """to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""

# Forward-only, like store.db.MIGRATIONS: entry i is the twin of SQLite's entry i (same tables,
# columns and indexes) and brings the schema from version i to i + 1. Never edit a released one.
MIGRATIONS: Sequence[Sequence[str]] = (
    (
        f"""CREATE TABLE phone_subscriptions (
               owner TEXT NOT NULL,
               subscriber TEXT NOT NULL,
               created_at TEXT NOT NULL DEFAULT {NOW},
               PRIMARY KEY (owner, subscriber)
           )""",
        "CREATE INDEX phone_subscriptions_by_subscriber ON phone_subscriptions (subscriber)",
        f"""CREATE TABLE im_subscriptions (
               user_jid TEXT PRIMARY KEY,
               state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'revoked')),
               updated_at TEXT NOT NULL DEFAULT {NOW}
           )""",
        f"""CREATE TABLE user_settings (
               user_jid TEXT PRIMARY KEY,
               settings TEXT NOT NULL,
               updated_at TEXT NOT NULL DEFAULT {NOW}
           )""",
    ),
    (
        "ALTER TABLE phone_subscriptions ADD COLUMN owner_uuid TEXT",
        "CREATE INDEX phone_subscriptions_by_owner_uuid ON phone_subscriptions (owner_uuid)",
        "ALTER TABLE user_settings ADD COLUMN wazo_uuid TEXT",
        "CREATE UNIQUE INDEX user_settings_by_wazo_uuid ON user_settings (wazo_uuid)",
    ),
    (
        f"""CREATE TABLE roster_items (
               owner TEXT NOT NULL,
               item TEXT NOT NULL,
               state TEXT NOT NULL CHECK (state IN ('written', 'removed')),
               digest TEXT NOT NULL,
               updated_at TEXT NOT NULL DEFAULT {NOW},
               PRIMARY KEY (owner, item)
           )""",
    ),
    (
        f"""CREATE TABLE call_routing (
               user_uuid TEXT PRIMARY KEY,
               record TEXT NOT NULL,
               updated_at TEXT NOT NULL DEFAULT {NOW}
           )""",
    ),
    (
        f"""CREATE TABLE address_books (
               book TEXT PRIMARY KEY,
               sync_token TEXT,
               updated_at TEXT NOT NULL DEFAULT {NOW}
           )""",
        """CREATE TABLE address_book_cards (
               book TEXT NOT NULL,
               href TEXT NOT NULL,
               etag TEXT NOT NULL DEFAULT '',
               contact TEXT NOT NULL,
               PRIMARY KEY (book, href)
           )""",
    ),
    (
        # v6: each user's call history (the twin of SQLite's v6).
        """CREATE TABLE call_history (
               user_uuid VARCHAR(64) NOT NULL,
               call_key VARCHAR(128) NOT NULL,
               direction VARCHAR(16) NOT NULL CHECK (direction IN ('incoming', 'outgoing')),
               outcome VARCHAR(16) NOT NULL
                   CHECK (outcome IN ('answered', 'missed', 'voicemail', 'not_answered')),
               number VARCHAR(64) NOT NULL,
               name VARCHAR(256) NOT NULL,
               started_at BIGINT NOT NULL,
               duration_s INTEGER NOT NULL,
               PRIMARY KEY (user_uuid, call_key)
           )""",
        "CREATE INDEX call_history_by_user_time ON call_history (user_uuid, started_at)",
    ),
    (
        # v7: the last complete read of Wazo's users (the twin of SQLite's v7).
        """CREATE TABLE wazo_directory (
               user_uuid TEXT PRIMARY KEY,
               email TEXT NOT NULL,
               username TEXT NOT NULL,
               display_name TEXT NOT NULL
           )""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

# Every table with its columns, in an order that copies cleanly (for migrate-store).
TABLES: dict[str, tuple[str, ...]] = {
    "phone_subscriptions": ("owner", "subscriber", "created_at", "owner_uuid"),
    "im_subscriptions": ("user_jid", "state", "updated_at"),
    "user_settings": ("user_jid", "settings", "updated_at", "wazo_uuid"),
    "roster_items": ("owner", "item", "state", "digest", "updated_at"),
    "call_routing": ("user_uuid", "record", "updated_at"),
    "address_books": ("book", "sync_token", "updated_at"),
    "address_book_cards": ("book", "href", "etag", "contact"),
    "call_history": (
        "user_uuid",
        "call_key",
        "direction",
        "outcome",
        "number",
        "name",
        "started_at",
        "duration_s",
    ),
    "wazo_directory": ("user_uuid", "email", "username", "display_name"),
}


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name`` (stable across runs and hosts)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


MIGRATION_LOCK = lock_key("phonepresence:migrations")


def _lock_row(key: int) -> tuple[int, int]:
    """(classid, objid) of a bigint advisory lock in pg_locks: its high and low 32 bits."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


# This session's (or any session's, without the pid test) hold on one bigint advisory lock.
_HELD = """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 1
               AND ($3 OR pid = pg_backend_pid()))"""


# Longest wait for a graceful close of the store's connections.
CLOSE_GRACE = 2.0


def _count(status: str) -> int:
    """Rows touched, from a command status such as ``INSERT 0 1`` or ``UPDATE 3``."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresStore:
    """A small pool of connections, opened with :meth:`open` (or ``async with``)."""

    def __init__(self, url: str, password: str | None = None, max_connections: int = 4) -> None:
        self.url = url
        self.path = url  # what log lines and errors name the store by, as store.db.Store.path
        self._password = password
        self._max = max_connections
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    def __repr__(self) -> str:  # the URL holds no password: that comes from password_env/file
        return f"PostgresStore({self.url!r})"

    async def open(self) -> PostgresStore:
        self._pool = await asyncpg.create_pool(
            self.url, password=self._password, min_size=1, max_size=self._max, command_timeout=30
        )
        try:
            await self._migrate()
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            # Bounded: a server that stopped answering (a partition) would hold a graceful close.
            try:
                async with asyncio.timeout(CLOSE_GRACE):
                    await pool.close()
            except TimeoutError:
                log.warning(
                    "store %s did not close within %.0f s; connections dropped", self.url, CLOSE_GRACE
                )
                pool.terminate()

    def terminate(self) -> None:
        """Drop every connection now, without waiting for the server: for an instance that lost
        the active lock, which must not write to the shared store any more (the new active
        one may be writing), even while PostgreSQL does not answer."""
        if self._pool is not None:
            self._pool.terminate()

    async def __aenter__(self) -> PostgresStore:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        return list(await self.pool.fetch(query, *args))

    async def _execute(self, query: str, *args: Any) -> int:
        return _count(str(await self.pool.execute(query, *args)))

    # --- schema -----------------------------------------------------------------------------

    async def schema_version(self) -> int:
        return int(await self.pool.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))

    async def _migrate(self) -> None:
        async with self.pool.acquire() as connection:
            while True:
                async with connection.transaction():
                    await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                    await connection.execute(
                        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
                    )
                    current = int(
                        await connection.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
                    )
                    if current > SCHEMA_VERSION:
                        raise SchemaError(
                            f"{self.url}: database schema version {current} is newer than this program "
                            f"supports ({SCHEMA_VERSION}); run a newer phonepresence or restore a backup"
                        )
                    if current == SCHEMA_VERSION:
                        return
                    for statement in MIGRATIONS[current]:
                        await connection.execute(statement)
                    await connection.execute("DELETE FROM schema_version")
                    await connection.execute("INSERT INTO schema_version (version) VALUES ($1)", current + 1)
                log.info("store %s migrated to schema version %d", self.url, current + 1)

    # --- phone subscriptions ------------------------------------------------------------------

    async def add_phone_subscription(
        self, owner: str, subscriber: str, owner_uuid: str | None = None
    ) -> bool:
        return (
            await self._execute(
                """INSERT INTO phone_subscriptions (owner, subscriber, owner_uuid) VALUES ($1, $2, $3)
                   ON CONFLICT DO NOTHING""",
                owner,
                subscriber,
                owner_uuid,
            )
            == 1
        )

    async def adopt_phone_subscriptions(self, owner: str, owner_uuid: str) -> int:
        return await self._execute(
            "UPDATE phone_subscriptions SET owner_uuid = $1 WHERE owner = $2 AND owner_uuid IS NULL",
            owner_uuid,
            owner,
        )

    async def remove_phone_subscription(self, owner: str, subscriber: str) -> bool:
        return (
            await self._execute(
                "DELETE FROM phone_subscriptions WHERE owner = $1 AND subscriber = $2", owner, subscriber
            )
            == 1
        )

    async def all_phone_subscriptions(self) -> list[tuple[str, str, str | None]]:
        rows = await self._fetch(
            # COLLATE "C": the same byte order as SQLite's, whatever the database's locale.
            """SELECT owner, subscriber, owner_uuid FROM phone_subscriptions
               ORDER BY owner COLLATE "C", subscriber COLLATE "C" """
        )
        return [(str(o), str(s), str(u) if u is not None else None) for o, s, u in rows]

    async def phone_subscription_groups(
        self, size: int = 2_000
    ) -> AsyncIterator[list[tuple[str, str | None, list[str]]]]:
        """Every (owner localpart, owner uuid or None, its subscribers), ``size`` groups at a
        time, through a server-side cursor; joined by the server, split here (see the SQLite store)."""
        async with self.pool.acquire() as connection, connection.transaction():
            cursor = connection.cursor(
                """SELECT owner, owner_uuid, string_agg(subscriber, E'\\n') FROM phone_subscriptions
                   GROUP BY owner, owner_uuid""",
                prefetch=size,
            )
            batch: list[tuple[str, str | None, list[str]]] = []
            async for owner, uuid, joined in cursor:
                batch.append((str(owner), str(uuid) if uuid is not None else None, str(joined).split("\n")))
                if len(batch) >= size:
                    yield batch
                    batch = []
            if batch:
                yield batch

    # --- the component's subscriptions to users' chat presence --------------------------------

    async def set_im_subscription(self, user_jid: str, state: str) -> None:
        await self._execute(
            """INSERT INTO im_subscriptions (user_jid, state) VALUES ($1, $2)
                ON CONFLICT (user_jid) DO UPDATE SET state = excluded.state, updated_at = DEFAULT""",
            user_jid,
            state,
        )

    async def im_subscriptions(self) -> dict[str, str]:
        return {str(j): str(s) for j, s in await self._fetch("SELECT user_jid, state FROM im_subscriptions")}

    # --- roster items written through XEP-0356 -------------------------------------------------

    async def roster_items(self, owner: str) -> list[tuple[str, str, str]]:
        rows = await self._fetch("SELECT item, state, digest FROM roster_items WHERE owner = $1", owner)
        return [(str(i), str(s), str(d)) for i, s, d in rows]

    async def roster_owners(self) -> list[str]:
        return [str(o) for (o,) in await self._fetch("SELECT DISTINCT owner FROM roster_items")]

    async def set_roster_items(self, owner: str, rows: Sequence[tuple[str, str, str]]) -> None:
        if not rows:
            return
        await self.pool.executemany(
            """INSERT INTO roster_items (owner, item, state, digest) VALUES ($1, $2, $3, $4)
                ON CONFLICT (owner, item) DO UPDATE SET state = excluded.state,
                    digest = excluded.digest, updated_at = DEFAULT""",
            [(owner, item, state, digest) for item, state, digest in rows],
        )

    async def forget_roster_items(self, owner: str, items: Sequence[str]) -> None:
        if items:
            await self._execute(
                "DELETE FROM roster_items WHERE owner = $1 AND item = ANY($2::text[])", owner, list(items)
            )

    # --- settings -----------------------------------------------------------------------------

    async def save_settings(self, user_jid: str, settings_json: str, wazo_uuid: str | None = None) -> None:
        if wazo_uuid is not None:
            updated = await self._execute(
                """UPDATE user_settings SET user_jid = $1, settings = $2, updated_at = DEFAULT
                    WHERE wazo_uuid = $3""",
                user_jid,
                settings_json,
                wazo_uuid,
            )
            if updated == 1:
                return
        await self._execute(
            """INSERT INTO user_settings (user_jid, settings, wazo_uuid) VALUES ($1, $2, $3)
                ON CONFLICT (user_jid) DO UPDATE SET settings = excluded.settings,
                    wazo_uuid = coalesce(excluded.wazo_uuid, user_settings.wazo_uuid),
                    updated_at = DEFAULT""",
            user_jid,
            settings_json,
            wazo_uuid,
        )

    async def adopt_settings(self, user_jid: str, wazo_uuid: str) -> bool:
        return (
            await self._execute(
                """UPDATE user_settings SET wazo_uuid = $1 WHERE user_jid = $2 AND wazo_uuid IS NULL
                   AND NOT EXISTS (SELECT 1 FROM user_settings WHERE wazo_uuid = $1)""",
                wazo_uuid,
                user_jid,
            )
            == 1
        )

    async def all_settings_rows(self) -> list[tuple[str, str | None, str]]:
        rows = await self._fetch("SELECT user_jid, wazo_uuid, settings FROM user_settings")
        return [(str(j), str(u) if u is not None else None, str(t)) for j, u, t in rows]

    # --- call routing applied by the rules ----------------------------------------------------

    async def save_call_routing(self, user_uuid: str, record_json: str | None) -> None:
        if record_json is None:
            await self._execute("DELETE FROM call_routing WHERE user_uuid = $1", user_uuid)
            return
        await self._execute(
            """INSERT INTO call_routing (user_uuid, record) VALUES ($1, $2)
                ON CONFLICT (user_uuid) DO UPDATE SET record = excluded.record, updated_at = DEFAULT""",
            user_uuid,
            record_json,
        )

    async def all_call_routing(self) -> dict[str, str]:
        return {str(u): str(r) for u, r in await self._fetch("SELECT user_uuid, record FROM call_routing")}

    # --- the last read of Wazo's users ---------------------------------------------------------

    async def wazo_directory(self) -> list[WazoUserRow]:
        rows = await self._fetch(
            "SELECT user_uuid, email, username, display_name FROM wazo_directory ORDER BY user_uuid"
        )
        return [(str(u), str(e), str(n), str(d)) for u, e, n, d in rows]

    async def save_wazo_directory(self, rows: Sequence[WazoUserRow]) -> None:
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("DELETE FROM wazo_directory")
            if rows:
                await connection.executemany(
                    """INSERT INTO wazo_directory (user_uuid, email, username, display_name)
                       VALUES ($1, $2, $3, $4)""",
                    list(rows),
                )

    # --- CardDAV address books ---------------------------------------------------------------

    async def address_book_token(self, book: str) -> str | None:
        token = await self.pool.fetchval("SELECT sync_token FROM address_books WHERE book = $1", book)
        return str(token) if token is not None else None

    async def address_book_cards(self, book: str) -> dict[str, str]:
        rows = await self._fetch("SELECT href, contact FROM address_book_cards WHERE book = $1", book)
        return {str(h): str(c) for h, c in rows}

    async def apply_address_book(
        self,
        book: str,
        token: str | None,
        full: bool,
        cards: Sequence[tuple[str, str, str]],
        deleted: Sequence[str],
    ) -> None:
        async with self.pool.acquire() as connection, connection.transaction():
            if full:
                await connection.execute("DELETE FROM address_book_cards WHERE book = $1", book)
            if deleted:
                await connection.execute(
                    "DELETE FROM address_book_cards WHERE book = $1 AND href = ANY($2::text[])",
                    book,
                    list(deleted),
                )
            if cards:
                await connection.executemany(
                    """INSERT INTO address_book_cards (book, href, etag, contact) VALUES ($1, $2, $3, $4)
                       ON CONFLICT (book, href) DO UPDATE SET etag = excluded.etag,
                           contact = excluded.contact""",
                    [(book, href, etag, contact) for href, etag, contact in cards],
                )
            await connection.execute(
                """INSERT INTO address_books (book, sync_token) VALUES ($1, $2)
                    ON CONFLICT (book) DO UPDATE SET sync_token = excluded.sync_token,
                        updated_at = DEFAULT""",
                book,
                token,
            )

    # --- call history --------------------------------------------------------------------------

    async def save_call(self, row: CallRow, keep: int) -> None:
        """Write one history row (replacing the row of the same call), then keep only the user's
        ``keep`` newest rows."""
        await self.save_calls([row], keep)

    async def save_calls(self, rows: Sequence[CallRow], keep: int) -> None:
        """Write history rows in order (a row replaces the row of the same call), then keep only
        each of their users' ``keep`` newest rows; one transaction, unlike SQLite's shared
        connection."""
        bounded = [bounded_call_row(row) for row in rows]
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.executemany(
                """INSERT INTO call_history (user_uuid, call_key, direction, outcome, number, name,
                       started_at, duration_s) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                   ON CONFLICT (user_uuid, call_key) DO UPDATE SET direction = excluded.direction,
                       outcome = excluded.outcome, number = excluded.number, name = excluded.name,
                       started_at = excluded.started_at, duration_s = excluded.duration_s""",
                bounded,
            )
            for user in sorted({row[0] for row in bounded}):
                await connection.execute(
                    """DELETE FROM call_history WHERE user_uuid = $1 AND call_key NOT IN (
                           SELECT call_key FROM call_history WHERE user_uuid = $1
                           ORDER BY started_at DESC, call_key DESC LIMIT $2)""",
                    user,
                    keep,
                )

    async def recent_calls(self, user_uuid: str, limit: int) -> list[CallRow]:
        """The user's newest ``limit`` rows, newest first."""
        rows = await self._fetch(
            """SELECT user_uuid, call_key, direction, outcome, number, name, started_at, duration_s
               FROM call_history WHERE user_uuid = $1 ORDER BY started_at DESC, call_key DESC LIMIT $2""",
            user_uuid,
            limit,
        )
        return [
            (str(u), str(k), str(d), str(o), str(n), str(m), int(t), int(s))
            for u, k, d, o, n, m, t, s in rows
        ]

    # --- figures for admin commands -----------------------------------------------------------

    async def counts(self) -> dict[str, int]:
        subs = await self.pool.fetchval("SELECT count(*) FROM phone_subscriptions")
        approved = await self.pool.fetchval("SELECT count(*) FROM im_subscriptions WHERE state = 'approved'")
        return {"phone_subscriptions": int(subs), "im_subscriptions_approved": int(approved)}


# The server probes the lock's session: a holder whose host vanished (power cut, partition: no
# FIN ever comes) loses the lock after about 5 + 2 * 3 = 11 s instead of the system's default of
# more than two hours. Not sooner than the holder itself gives up (pair.LOCK_CHECK_INTERVAL +
# LOCK_CHECK_TIMEOUT, 4 s), so two instances never serve at once. Ignored on a Unix socket.
LOCK_SESSION_KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
}


class ActiveLock:
    """The session-level advisory lock that makes one instance of a pair the active one.

    It lives on a connection of its own, outside the pool: PostgreSQL releases it the moment
    that session ends (the process killed, its host gone once TCP keepalives notice), and the
    standby, blocked in ``pg_advisory_lock``, gets it at that moment. The holder watches the
    same connection: once it is gone the lock may already be another's, so :attr:`lost` is set
    and the instance must stop serving.
    """

    def __init__(self, url: str, password: str | None, name: str) -> None:
        self.url = url
        self.key = lock_key(f"phonepresence:active:{name}")
        self._password = password
        self._connection: asyncpg.Connection | None = None
        self.lost = asyncio.Event()

    async def acquire(self) -> None:
        """Connect and wait until the lock is ours (blocks as long as another instance holds it).
        Connection errors propagate: the caller retries with a delay."""
        connection = await asyncpg.connect(
            self.url, password=self._password, server_settings=LOCK_SESSION_KEEPALIVES
        )
        try:
            await connection.execute("SELECT pg_advisory_lock($1)", self.key)
        except BaseException:
            await _close_quietly(connection)
            raise
        self._connection = connection
        connection.add_termination_listener(lambda _c: self.lost.set())

    async def watch(self, interval: float, timeout: float) -> None:
        """Until the lock's connection fails (closed by the server, or no answer within
        ``timeout``: a partition); then set :attr:`lost` and return."""
        connection = self._connection
        assert connection is not None, "watch() before acquire()"
        while not self.lost.is_set():
            try:
                held = await connection.fetchval(_HELD, *_lock_row(self.key), False, timeout=timeout)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as error:
                reason = str(error) or type(error).__name__
                log.error("the connection holding the active lock failed: %s", reason)
                break
            if not held:
                log.error("the active lock is no longer held by this instance's session")
                break
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow the shutdown's cancel.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self.lost.wait()
        self.lost.set()

    async def close(self) -> None:
        """Release the lock by ending its session."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            if self.lost.is_set():
                connection.terminate()  # nothing to say goodbye to
            else:
                await _close_quietly(connection)


async def _close_quietly(connection: asyncpg.Connection) -> None:
    try:
        async with asyncio.timeout(CLOSE_GRACE):
            await connection.close()
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
        connection.terminate()


@dataclass(frozen=True)
class PostgresState:
    """What ``phonepresence doctor`` reports of a PostgreSQL store, read without changing it."""

    schema_version: int  # 0: no schema yet (the first start creates it)
    active_instance: bool  # some session holds the active lock of the component domain


async def inspect(url: str, password: str | None, component: str, timeout: float = 10.0) -> PostgresState:
    connection = await asyncpg.connect(url, password=password, timeout=timeout)
    try:
        version = 0
        if await connection.fetchval("SELECT to_regclass('schema_version') IS NOT NULL"):
            version = int(await connection.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))
        key = lock_key(f"phonepresence:active:{component}")
        held = await connection.fetchval(_HELD, *_lock_row(key), True)
        return PostgresState(version, bool(held))
    finally:
        await _close_quietly(connection)
