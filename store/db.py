"""The component's SQLite store: schema, forward-only migrations and every query.

WAL mode lets readers (admin commands, the HTTP status page later) run beside the writer.
``synchronous=FULL``: each commit is synced to disk before it returns, so what the component has
acknowledged (a ``subscribed`` sent to a watcher, a privacy setting confirmed to its user) survives
a power loss or an OS crash, not only a crash of the process. Writes are rare (a subscription
change, a setting), so the extra fsync per commit costs nothing that matters; with ``NORMAL`` a
power loss could silently undo the last acknowledged subscriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import cast

import aiosqlite

from store.api import CallRow, WazoUserRow, bounded_call_row

log = logging.getLogger(__name__)

# History rows per INSERT statement: 8 parameters a row, within SQLite's oldest limit of 999.
_CALL_ROWS_PER_WRITE = 100
_UPSERT_CALLS = """INSERT INTO call_history (user_uuid, call_key, direction, outcome, number, name,
        started_at, duration_s) VALUES {rows}
    ON CONFLICT (user_uuid, call_key) DO UPDATE SET direction = excluded.direction,
        outcome = excluded.outcome, number = excluded.number, name = excluded.name,
        started_at = excluded.started_at, duration_s = excluded.duration_s"""
# One user's rows but the ``keep`` newest (the order Recent calls shows).
_TRIM_USER_CALLS = """DELETE FROM call_history WHERE user_uuid = ? AND call_key NOT IN (
    SELECT call_key FROM call_history WHERE user_uuid = ?
    ORDER BY started_at DESC, call_key DESC LIMIT ?)"""
# Each of these users' rows but the ``keep`` newest.
_TRIM_CALLS = """DELETE FROM call_history WHERE (user_uuid, call_key) IN (
    SELECT user_uuid, call_key FROM (
        SELECT user_uuid, call_key, ROW_NUMBER() OVER (
            PARTITION BY user_uuid ORDER BY started_at DESC, call_key DESC) AS newest
        FROM call_history WHERE user_uuid IN ({users}))
    WHERE newest > ?)"""


class SchemaError(Exception):
    """The database cannot be used by this version of the program."""


# Forward-only: a released migration is never edited, only followed by a new one. Index i holds
# the statements that bring the schema from version i to version i + 1.
MIGRATIONS: Sequence[Sequence[str]] = (
    (
        # Who subscribed to which phone JID (owner is the localpart under the component domain).
        """CREATE TABLE phone_subscriptions (
               owner TEXT NOT NULL,
               subscriber TEXT NOT NULL,
               created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
               PRIMARY KEY (owner, subscriber)
           ) WITHOUT ROWID""",
        "CREATE INDEX phone_subscriptions_by_subscriber ON phone_subscriptions (subscriber)",
        # The component's own subscription to each user's chat presence (subscription mode).
        """CREATE TABLE im_subscriptions (
               user_jid TEXT PRIMARY KEY,
               state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'revoked')),
               updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
           )""",
        # Per-user settings as a JSON document, validated by the settings command before writing.
        """CREATE TABLE user_settings (
               user_jid TEXT PRIMARY KEY,
               settings TEXT NOT NULL,
               updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
           )""",
    ),
    (
        # v2: the stable key of a user is their Wazo uuid; the phone JID localpart (owner) is
        # the name the watcher subscribed to, which stays theirs after the user's email changes.
        # NULL until the first read of Wazo's users maps the row's localpart to a uuid.
        "ALTER TABLE phone_subscriptions ADD COLUMN owner_uuid TEXT",
        "CREATE INDEX phone_subscriptions_by_owner_uuid ON phone_subscriptions (owner_uuid)",
        # Settings follow the Wazo user, not the chat JID they were written under.
        "ALTER TABLE user_settings ADD COLUMN wazo_uuid TEXT",
        "CREATE UNIQUE INDEX user_settings_by_wazo_uuid ON user_settings (wazo_uuid)",
    ),
    (
        # What the component wrote into each user's roster through XEP-0356 (owner = the roster's
        # bare chat JID), so that each connect sends only the difference. 'removed' marks an item
        # the user deleted: it is never written again. digest = subscription, name and group.
        """CREATE TABLE roster_items (
               owner TEXT NOT NULL,
               item TEXT NOT NULL,
               state TEXT NOT NULL CHECK (state IN ('written', 'removed')),
               digest TEXT NOT NULL,
               updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
               PRIMARY KEY (owner, item)
           ) WITHOUT ROWID""",
    ),
    (
        # The call routing the rules put on the PBX per Wazo user, with the user's own routing
        # from before (JSON, rules.reconcile.RoutingRecord): written before and after each change,
        # so a restart gives back exactly what the user had.
        """CREATE TABLE call_routing (
               user_uuid TEXT PRIMARY KEY,
               record TEXT NOT NULL,
               updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
           )""",
    ),
    (
        # CardDAV address books cached for search ("company", "personal:<chat JID>"): the
        # sync-collection token of the last read, and each card parsed (JSON, presence.directory
        # .vcard.Contact) with its ETag, so a restart searches at once and syncs only changes.
        """CREATE TABLE address_books (
               book TEXT PRIMARY KEY,
               sync_token TEXT,
               updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
           )""",
        """CREATE TABLE address_book_cards (
               book TEXT NOT NULL,
               href TEXT NOT NULL,
               etag TEXT NOT NULL DEFAULT '',
               contact TEXT NOT NULL,
               PRIMARY KEY (book, href)
           ) WITHOUT ROWID""",
    ),
    (
        # v6: each user's call history (presence.call_history.HistoryEntry), learnt from Wazo's
        # call events; bounded per user by the writer. call_key is the conversation id (or
        # "vm:<message id>"); started_at in unix milliseconds. Plain portable SQL: the PostgreSQL
        # store mirrors it.
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
        # v7: Wazo's users as the last complete read gave them (what maps each to a chat JID):
        # at start, presence goes out from this copy while confd's users are read again. Plain
        # portable SQL: the PostgreSQL store mirrors it.
        """CREATE TABLE wazo_directory (
               user_uuid TEXT PRIMARY KEY,
               email TEXT NOT NULL,
               username TEXT NOT NULL,
               display_name TEXT NOT NULL
           )""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


class Store:
    """One connection, opened with :meth:`open` (or ``async with``) and closed with :meth:`close`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path) if str(path) != ":memory:" else path
        self._db: aiosqlite.Connection | None = None
        self._transactions = asyncio.Lock()  # see _transaction

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def open(self) -> Store:
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE) so that a migration
        # and its version bump commit together or not at all.
        self._db = await aiosqlite.connect(str(self.path), isolation_level=None)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=FULL")
        try:
            await self._db.execute("PRAGMA foreign_keys=ON")
            await self._migrate()
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def __aenter__(self) -> Store:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One explicit transaction on the shared connection: committed at the end, rolled back
        if the block raises. Transactions take turns: two at once would nest (an error) or commit
        each other's statements."""
        db = self.db
        async with self._transactions:
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    # --- schema -----------------------------------------------------------------------------

    async def schema_version(self) -> int:
        async with self.db.execute("SELECT version FROM schema_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        db = self.db
        await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = await self.schema_version()
        if current > SCHEMA_VERSION:
            raise SchemaError(
                f"{self.path}: database schema version {current} is newer than this program "
                f"supports ({SCHEMA_VERSION}); run a newer phonepresence or restore a backup"
            )
        for version in range(current, SCHEMA_VERSION):
            async with self._transaction():
                for statement in MIGRATIONS[version]:
                    await db.execute(statement)
                await db.execute("DELETE FROM schema_version")
                await db.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))
            log.info("store %s migrated to schema version %d", self.path, version + 1)

    # --- phone subscriptions ------------------------------------------------------------------

    async def add_phone_subscription(
        self, owner: str, subscriber: str, owner_uuid: str | None = None
    ) -> bool:
        """Record that ``subscriber`` (bare JID) sees ``owner`` (the phone JID localpart) of Wazo
        user ``owner_uuid``; False if it already did."""
        cursor = await self.db.execute(
            "INSERT OR IGNORE INTO phone_subscriptions (owner, subscriber, owner_uuid) VALUES (?, ?, ?)",
            (owner, subscriber, owner_uuid),
        )
        return cursor.rowcount == 1

    async def adopt_phone_subscriptions(self, owner: str, owner_uuid: str) -> int:
        """Rows of ``owner`` written before their user's uuid was known now belong to that user."""
        cursor = await self.db.execute(
            "UPDATE phone_subscriptions SET owner_uuid = ? WHERE owner = ? AND owner_uuid IS NULL",
            (owner_uuid, owner),
        )
        return int(cursor.rowcount)

    async def remove_phone_subscription(self, owner: str, subscriber: str) -> bool:
        cursor = await self.db.execute(
            "DELETE FROM phone_subscriptions WHERE owner = ? AND subscriber = ?", (owner, subscriber)
        )
        return cursor.rowcount == 1

    async def all_phone_subscriptions(self) -> list[tuple[str, str, str | None]]:
        """Every (owner localpart, subscriber, owner uuid or None) row, in byte order."""
        async with self.db.execute(
            "SELECT owner, subscriber, owner_uuid FROM phone_subscriptions ORDER BY owner, subscriber"
        ) as cursor:
            return cast(list[tuple[str, str, str | None]], await cursor.fetchall())

    async def phone_subscription_groups(
        self, size: int = 2_000
    ) -> AsyncIterator[list[tuple[str, str | None, list[str]]]]:
        """Every (owner localpart, owner uuid or None, its subscribers), ``size`` groups at a time.

        One row per owner, the subscribers joined by SQLite and split by ``str.split``: a
        million subscriptions are read in C, not built row by row in Python (their load at the
        50,000-user start: 2.3 s -> 1.1 s). A newline joins them: no JID contains one (control
        characters are not allowed in any of its parts).
        """
        async with self.db.execute(
            """SELECT owner, owner_uuid, group_concat(subscriber, char(10)) FROM phone_subscriptions
               GROUP BY owner, owner_uuid"""
        ) as cursor:
            while rows := await cursor.fetchmany(size):
                yield [(owner, uuid, joined.split("\n")) for owner, uuid, joined in rows]

    # --- the component's subscriptions to users' chat presence --------------------------------

    async def set_im_subscription(self, user_jid: str, state: str) -> None:
        await self.db.execute(
            """INSERT INTO im_subscriptions (user_jid, state) VALUES (?, ?)
               ON CONFLICT (user_jid) DO UPDATE SET state = excluded.state,
                   updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')""",
            (user_jid, state),
        )

    async def im_subscriptions(self) -> dict[str, str]:
        async with self.db.execute("SELECT user_jid, state FROM im_subscriptions") as cursor:
            return {str(jid): str(state) async for jid, state in cursor}

    # --- roster items written through XEP-0356 -------------------------------------------------

    async def roster_items(self, owner: str) -> list[tuple[str, str, str]]:
        """(item, state, digest) of every item recorded for ``owner``'s roster."""
        async with self.db.execute(
            "SELECT item, state, digest FROM roster_items WHERE owner = ?", (owner,)
        ) as cursor:
            rows = await cursor.fetchall()
        return [(str(item), str(state), str(digest)) for item, state, digest in rows]

    async def roster_owners(self) -> list[str]:
        async with self.db.execute("SELECT DISTINCT owner FROM roster_items") as cursor:
            rows = await cursor.fetchall()
        return [str(owner) for (owner,) in rows]

    async def set_roster_items(self, owner: str, rows: Sequence[tuple[str, str, str]]) -> None:
        """Record (item, state, digest) rows for ``owner``'s roster."""
        # One statement per row, each cursor closed: executemany's cursors left open while other
        # tasks use the same cached statement made sqlite3 report "API misuse" under load.
        for item, state, digest in rows:
            async with self.db.execute(
                """INSERT INTO roster_items (owner, item, state, digest) VALUES (?, ?, ?, ?)
                   ON CONFLICT (owner, item) DO UPDATE SET state = excluded.state,
                       digest = excluded.digest, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')""",
                (owner, item, state, digest),
            ):
                pass

    async def forget_roster_items(self, owner: str, items: Sequence[str]) -> None:
        for item in items:
            async with self.db.execute(
                "DELETE FROM roster_items WHERE owner = ? AND item = ?", (owner, item)
            ):
                pass

    # --- settings -----------------------------------------------------------------------------

    async def save_settings(self, user_jid: str, settings_json: str, wazo_uuid: str | None = None) -> None:
        """Write a user's settings: the row of ``wazo_uuid`` when given (whatever chat JID it was
        written under before), else the row of ``user_jid``."""
        if wazo_uuid is not None:
            cursor = await self.db.execute(
                """UPDATE user_settings SET user_jid = ?, settings = ?,
                       updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE wazo_uuid = ?""",
                (user_jid, settings_json, wazo_uuid),
            )
            if cursor.rowcount == 1:
                return
        await self.db.execute(
            """INSERT INTO user_settings (user_jid, settings, wazo_uuid) VALUES (?, ?, ?)
               ON CONFLICT (user_jid) DO UPDATE SET settings = excluded.settings,
                   wazo_uuid = coalesce(excluded.wazo_uuid, wazo_uuid),
                   updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')""",
            (user_jid, settings_json, wazo_uuid),
        )

    async def adopt_settings(self, user_jid: str, wazo_uuid: str) -> bool:
        """The row written under ``user_jid`` before its user's uuid was known now belongs to
        ``wazo_uuid``; False if there is no such row or that user already has one."""
        cursor = await self.db.execute(
            """UPDATE user_settings SET wazo_uuid = ? WHERE user_jid = ? AND wazo_uuid IS NULL
               AND NOT EXISTS (SELECT 1 FROM user_settings WHERE wazo_uuid = ?)""",
            (wazo_uuid, user_jid, wazo_uuid),
        )
        return cursor.rowcount == 1

    async def all_settings_rows(self) -> list[tuple[str, str | None, str]]:
        """Every (chat JID written under, Wazo uuid or None, settings JSON) row."""
        async with self.db.execute("SELECT user_jid, wazo_uuid, settings FROM user_settings") as cursor:
            rows = await cursor.fetchall()
        return [(str(jid), str(uuid) if uuid is not None else None, str(text)) for jid, uuid, text in rows]

    # --- call routing applied by the rules ----------------------------------------------------

    async def save_call_routing(self, user_uuid: str, record_json: str | None) -> None:
        """Keep the user's routing record; None forgets it (nothing of ours on the PBX)."""
        if record_json is None:
            await self.db.execute("DELETE FROM call_routing WHERE user_uuid = ?", (user_uuid,))
            return
        await self.db.execute(
            """INSERT INTO call_routing (user_uuid, record) VALUES (?, ?)
               ON CONFLICT (user_uuid) DO UPDATE SET record = excluded.record,
                   updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')""",
            (user_uuid, record_json),
        )

    async def all_call_routing(self) -> dict[str, str]:
        async with self.db.execute("SELECT user_uuid, record FROM call_routing") as cursor:
            rows = await cursor.fetchall()
        return {str(uuid): str(record) for uuid, record in rows}

    # --- the last read of Wazo's users ---------------------------------------------------------

    async def wazo_directory(self) -> list[WazoUserRow]:
        async with self.db.execute(
            "SELECT user_uuid, email, username, display_name FROM wazo_directory ORDER BY user_uuid"
        ) as cursor:
            rows = await cursor.fetchall()
        return [(str(u), str(e), str(n), str(d)) for u, e, n, d in rows]

    async def save_wazo_directory(self, rows: Sequence[WazoUserRow]) -> None:
        """Replace the copy with ``rows``, in one transaction."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM wazo_directory")
            await db.executemany(
                "INSERT INTO wazo_directory (user_uuid, email, username, display_name) VALUES (?, ?, ?, ?)",
                rows,
            )

    # --- CardDAV address books ---------------------------------------------------------------

    async def address_book_token(self, book: str) -> str | None:
        async with self.db.execute("SELECT sync_token FROM address_books WHERE book = ?", (book,)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row and row[0] is not None else None

    async def address_book_cards(self, book: str) -> dict[str, str]:
        """href -> contact JSON of one book."""
        async with self.db.execute(
            "SELECT href, contact FROM address_book_cards WHERE book = ?", (book,)
        ) as cursor:
            rows = await cursor.fetchall()
        return {str(href): str(contact) for href, contact in rows}

    async def apply_address_book(
        self,
        book: str,
        token: str | None,
        full: bool,
        cards: Sequence[tuple[str, str, str]],
        deleted: Sequence[str],
    ) -> None:
        """One sync's result in one transaction: ``cards`` are (href, etag, contact JSON); a full
        read replaces the book."""
        async with self._transaction() as db:
            if full:
                await db.execute("DELETE FROM address_book_cards WHERE book = ?", (book,))
            await db.executemany(
                "DELETE FROM address_book_cards WHERE book = ? AND href = ?", [(book, h) for h in deleted]
            )
            await db.executemany(
                """INSERT INTO address_book_cards (book, href, etag, contact) VALUES (?, ?, ?, ?)
                   ON CONFLICT (book, href) DO UPDATE SET etag = excluded.etag, contact = excluded.contact""",
                [(book, href, etag, contact) for href, etag, contact in cards],
            )
            await db.execute(
                """INSERT INTO address_books (book, sync_token) VALUES (?, ?)
                   ON CONFLICT (book) DO UPDATE SET sync_token = excluded.sync_token,
                       updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')""",
                (book, token),
            )

    # --- call history --------------------------------------------------------------------------

    async def save_call(self, row: CallRow, keep: int) -> None:
        """Write one history row (replacing the row of the same call), then keep only the user's
        ``keep`` newest rows."""
        await self.save_calls([row], keep)

    async def save_calls(self, rows: Sequence[CallRow], keep: int) -> None:
        """Write history rows in order (a row replaces the row of the same call), then keep only
        each of their users' ``keep`` newest rows: the same rows as :meth:`save_call` one by one.

        Autocommitted statements, no explicit transaction: other tasks share this connection and
        one may be inside its own BEGIN. Two statements (two disk syncs) for up to
        ``_CALL_ROWS_PER_WRITE`` rows, however many users: the calls that ended while the
        previous write was syncing go together. A crash between the two leaves rows too many,
        trimmed at the user's next call.
        """
        bounded = [bounded_call_row(row) for row in rows]
        for first in range(0, len(bounded), _CALL_ROWS_PER_WRITE):
            chunk = bounded[first : first + _CALL_ROWS_PER_WRITE]
            users = sorted({row[0] for row in chunk})
            # Only placeholders are joined into the SQL; every value is bound.
            rows_sql = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            await self.db.execute(_UPSERT_CALLS.format(rows=rows_sql), [v for row in chunk for v in row])
            if len(users) == 1:  # cheaper than the window function for one user
                await self.db.execute(_TRIM_USER_CALLS, (users[0], users[0], keep))
            else:
                await self.db.execute(_TRIM_CALLS.format(users=", ".join(["?"] * len(users))), (*users, keep))

    async def recent_calls(self, user_uuid: str, limit: int) -> list[CallRow]:
        """The user's newest ``limit`` rows, newest first."""
        async with self.db.execute(
            """SELECT user_uuid, call_key, direction, outcome, number, name, started_at, duration_s
               FROM call_history WHERE user_uuid = ? ORDER BY started_at DESC, call_key DESC LIMIT ?""",
            (user_uuid, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            (str(u), str(k), str(d), str(o), str(n), str(m), int(t), int(s))
            for u, k, d, o, n, m, t, s in rows
        ]

    # --- figures for admin commands -----------------------------------------------------------

    async def counts(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for name, query in (
            ("phone_subscriptions", "SELECT count(*) FROM phone_subscriptions"),
            ("im_subscriptions_approved", "SELECT count(*) FROM im_subscriptions WHERE state = 'approved'"),
        ):
            async with self.db.execute(query) as cursor:
                row = await cursor.fetchone()
            result[name] = int(row[0]) if row else 0
        return result
