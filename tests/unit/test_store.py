"""The stores, SQLite and PostgreSQL, through the same tests: versioned forward-only migrations,
a newer schema refused untouched, state kept across reopen. SQLite's own settings (WAL, FULL sync)
are checked on SQLite only."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import store.db
import store.postgres
from store import SchemaError, StateStore, Store, open_store
from store.db import SCHEMA_VERSION


@dataclass
class Backend:
    """One database of one kind: ``open()`` gives a new store on it, ``raw(sql)`` runs SQL beside it."""

    name: str
    open: Callable[[], Awaitable[StateStore]]
    raw: Callable[[str], Awaitable[list[tuple[Any, ...]]]]
    migrations_module: Any


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.server)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        path = tmp_path / "db.sqlite"

        async def raw_sqlite(sql: str) -> list[tuple[Any, ...]]:
            with sqlite3.connect(path) as connection:
                return [tuple(row) for row in connection.execute(sql).fetchall()]

        return Backend("sqlite", lambda: open_store(str(path)), raw_sqlite, store.db)
    url: str = await request.getfixturevalue("postgres").new_database()

    async def raw_postgres(sql: str) -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await connection.fetch(sql)]
        finally:
            await connection.close()

    return Backend("postgres", lambda: open_store("", url), raw_postgres, store.postgres)


def test_both_stores_have_the_same_number_of_migrations() -> None:
    # Each SQLite migration has its PostgreSQL twin at the same index: a version means one schema.
    assert len(store.postgres.MIGRATIONS) == len(store.db.MIGRATIONS)


async def test_a_new_database_is_migrated_to_the_latest_version(backend: Backend) -> None:
    opened = await backend.open()
    try:
        assert await opened.schema_version() == SCHEMA_VERSION
    finally:
        await opened.close()
    assert await backend.raw("SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


async def test_new_database_is_in_wal_mode(tmp_path: Path) -> None:
    async with Store(tmp_path / "sub" / "db.sqlite") as sqlite:
        assert await sqlite.schema_version() == SCHEMA_VERSION
        async with sqlite.db.execute("PRAGMA journal_mode") as cursor:
            assert (await cursor.fetchone())[0] == "wal"


async def test_an_acknowledged_write_is_synced_to_disk_before_the_commit_returns(tmp_path: Path) -> None:
    # synchronous=FULL: with WAL, NORMAL may lose the last commits on a power loss, and a
    # subscription is acknowledged ("subscribed") right after its commit.
    async with Store(tmp_path / "db.sqlite") as sqlite, sqlite.db.execute("PRAGMA synchronous") as cursor:
        assert (await cursor.fetchone())[0] == 2  # FULL


async def test_state_survives_a_reopen_and_migrations_do_not_run_twice(backend: Backend) -> None:
    s = await backend.open()
    try:
        assert await s.add_phone_subscription("alice", "bob@example.test")
        assert not await s.add_phone_subscription("alice", "bob@example.test")
        await s.set_im_subscription("alice@example.test", "pending")
        await s.set_im_subscription("alice@example.test", "approved")
        await s.save_settings("alice@example.test", '{"calendar": true}')
    finally:
        await s.close()
    s = await backend.open()
    try:
        assert await s.all_phone_subscriptions() == [("alice", "bob@example.test", None)]
        assert await s.im_subscriptions() == {"alice@example.test": "approved"}
        assert {j: t for j, _u, t in await s.all_settings_rows()}.get("alice@example.test") == (
            '{"calendar": true}'
        )
        assert await s.counts() == {"phone_subscriptions": 1, "im_subscriptions_approved": 1}
        assert await s.remove_phone_subscription("alice", "bob@example.test")
        assert not await s.remove_phone_subscription("alice", "bob@example.test")
        assert await s.all_phone_subscriptions() == []
    finally:
        await s.close()


async def test_a_database_from_a_newer_version_is_refused_untouched(backend: Backend) -> None:
    s = await backend.open()
    await s.add_phone_subscription("alice", "bob@example.test")
    await s.close()
    await backend.raw(f"UPDATE schema_version SET version = {SCHEMA_VERSION + 1}")  # noqa: S608
    with pytest.raises(SchemaError, match="newer than this program supports"):
        await backend.open()
    assert await backend.raw("SELECT count(*) FROM phone_subscriptions") == [(1,)]
    assert await backend.raw("SELECT version FROM schema_version") == [(SCHEMA_VERSION + 1,)]


async def test_a_failing_migration_leaves_the_previous_version(backend: Backend, monkeypatch) -> None:
    module = backend.migrations_module
    broken = (*module.MIGRATIONS, ("CREATE TABLE extra (x INTEGER)", "THIS IS NOT SQL"))
    monkeypatch.setattr(module, "MIGRATIONS", broken)
    monkeypatch.setattr(module, "SCHEMA_VERSION", len(broken))
    with pytest.raises(Exception, match="syntax error"):
        await backend.open()
    assert await backend.raw("SELECT version FROM schema_version") == [(len(broken) - 1,)]
    with pytest.raises(Exception, match="extra"):
        await backend.raw("SELECT * FROM extra")


async def test_roster_items_written_are_kept_per_roster(backend: Backend) -> None:
    s = await backend.open()
    try:
        await s.set_roster_items("bob@example.test", [("alice@phone.example.test", "written", "to|A|P")])
        await s.set_roster_items("bob@example.test", [("carol@phone.example.test", "written", "to|C|P")])
        await s.set_roster_items("bob@example.test", [("alice@phone.example.test", "removed", "")])
        await s.set_roster_items("carol@example.test", [("phone.example.test", "written", "both")])
    finally:
        await s.close()
    s = await backend.open()
    try:
        assert sorted(await s.roster_items("bob@example.test")) == [
            ("alice@phone.example.test", "removed", ""),
            ("carol@phone.example.test", "written", "to|C|P"),
        ]
        await s.forget_roster_items("bob@example.test", ["carol@phone.example.test"])
        assert await s.roster_items("bob@example.test") == [("alice@phone.example.test", "removed", "")]
        assert sorted(await s.roster_owners()) == ["bob@example.test", "carol@example.test"]
    finally:
        await s.close()


async def test_subscriptions_are_adopted_by_their_owner_and_listed_in_byte_order(backend: Backend) -> None:
    s = await backend.open()
    try:
        for owner, watcher in (("bob", "Zed@example.test"), ("alice", "bob@example.test"), ("Bob", "a@x")):
            await s.add_phone_subscription(owner, watcher)
        assert await s.adopt_phone_subscriptions("bob", "uuid-bob") == 1
        assert await s.adopt_phone_subscriptions("bob", "uuid-other") == 0  # already adopted
        assert await s.all_phone_subscriptions() == [
            ("Bob", "a@x", None),
            ("alice", "bob@example.test", None),
            ("bob", "Zed@example.test", "uuid-bob"),
        ]
    finally:
        await s.close()


async def test_settings_follow_the_wazo_user_across_chat_jids(backend: Backend) -> None:
    s = await backend.open()
    try:
        await s.save_settings("alice@example.test", '{"a": 1}')
        assert await s.adopt_settings("alice@example.test", "uuid-a")
        assert not await s.adopt_settings("alice@example.test", "uuid-a")
        await s.save_settings("alice.new@example.test", '{"a": 2}', "uuid-a")  # her email changed
        await s.save_settings("carol@example.test", '{"c": 1}', "uuid-c")
        await s.save_settings("carol@example.test", '{"c": 2}')  # keeps her uuid
        assert sorted(await s.all_settings_rows()) == [
            ("alice.new@example.test", "uuid-a", '{"a": 2}'),
            ("carol@example.test", "uuid-c", '{"c": 2}'),
        ]
    finally:
        await s.close()


async def test_call_routing_and_address_books_round_trip(backend: Backend) -> None:
    s = await backend.open()
    try:
        await s.save_call_routing("u1", '{"dnd": true}')
        await s.save_call_routing("u2", '{"dnd": false}')
        await s.save_call_routing("u1", '{"dnd": false}')
        await s.save_call_routing("u2", None)
        assert await s.all_call_routing() == {"u1": '{"dnd": false}'}
        cards = [("/a.vcf", "e1", '{"n": "A"}'), ("/b.vcf", "e2", '{"n": "B"}')]
        await s.apply_address_book("company", "tok-1", True, cards, [])
        await s.apply_address_book("company", "tok-2", False, [("/a.vcf", "e3", '{"n": "A2"}')], ["/b.vcf"])
        assert await s.address_book_token("company") == "tok-2"
        assert await s.address_book_cards("company") == {"/a.vcf": '{"n": "A2"}'}
        await s.apply_address_book("company", None, True, [("/c.vcf", "", "{}")], [])
        assert await s.address_book_token("company") is None
        assert await s.address_book_cards("company") == {"/c.vcf": "{}"}
        assert await s.address_book_token("personal:x") is None
    finally:
        await s.close()


async def test_call_history_is_kept_bounded_per_user_newest_first_and_a_call_is_rewritten_in_place(
    backend: Backend,
) -> None:
    s = await backend.open()
    try:
        for i in range(5):
            await s.save_call(("alice", f"c{i}", "incoming", "missed", "1002", "Bob", 1000 + i, 0), keep=3)
        await s.save_call(("bob", "c0", "outgoing", "answered", "1001", "", 999, 12), keep=3)
        # the same call again (a voicemail for a missed call): one row, new outcome
        await s.save_call(("alice", "c4", "incoming", "voicemail", "1002", "Bob", 1004, 0), keep=3)
    finally:
        await s.close()
    s = await backend.open()  # kept across a restart
    try:
        rows = await s.recent_calls("alice", 10)
        assert [(r[1], r[3]) for r in rows] == [("c4", "voicemail"), ("c3", "missed"), ("c2", "missed")]
        assert await s.recent_calls("bob", 10) == [("bob", "c0", "outgoing", "answered", "1001", "", 999, 12)]
        assert [r[1] for r in await s.recent_calls("alice", 2)] == ["c4", "c3"]
    finally:
        await s.close()


async def test_the_wazo_directory_copy_is_replaced_whole_and_kept_across_a_restart(backend: Backend) -> None:
    s = await backend.open()
    try:
        assert await s.wazo_directory() == []
        await s.save_wazo_directory([("u2", "bob@example.test", "bob", "Bob"), ("u1", "", "", "")])
        await s.save_wazo_directory([("u1", "alice@example.test", "alice", "Alice O'Neil")])
    finally:
        await s.close()
    s = await backend.open()
    try:
        assert await s.wazo_directory() == [("u1", "alice@example.test", "alice", "Alice O'Neil")]
        await s.save_wazo_directory([])
        assert await s.wazo_directory() == []
    finally:
        await s.close()


async def test_call_rows_written_together_end_as_if_written_one_by_one(backend: Backend) -> None:
    # The history writes the calls that ended during the previous write in one store call.
    rows = [("alice", f"c{i}", "incoming", "missed", "1002", "Bob", 1000 + i, 0) for i in range(5)]
    rows += [
        ("bob", "c0", "outgoing", "answered", "1001", "", 999, 12),
        ("alice", "c4", "incoming", "voicemail", "1002", "Bob", 1004, 0),  # the same call again
        ("carol", "c9", "incoming", "missed", "1003", "Ann", 5, 0),
        ("carol", "c8", "incoming", "missed", "1003", "Ann", 6, 0),
    ]
    s = await backend.open()
    try:
        await s.save_call(("carol", "c7", "incoming", "missed", "1003", "Ann", 1, 0), keep=3)
        await s.save_call(("carol", "c6", "incoming", "missed", "1003", "Ann", 2, 0), keep=3)
        await s.save_calls(rows, keep=3)
        await s.save_calls([], keep=3)
        alice = await s.recent_calls("alice", 10)
        assert [(r[1], r[3]) for r in alice] == [("c4", "voicemail"), ("c3", "missed"), ("c2", "missed")]
        assert await s.recent_calls("bob", 10) == [("bob", "c0", "outgoing", "answered", "1001", "", 999, 12)]
        assert [r[1] for r in await s.recent_calls("carol", 10)] == ["c8", "c9", "c6"]
    finally:
        await s.close()


async def test_a_call_with_an_overlong_caller_name_or_number_is_kept_alike_on_both_stores(
    backend: Backend,
) -> None:
    # A caller ID name is whatever a trunk sends: PostgreSQL enforces the columns' lengths where
    # SQLite does not, and a refused row would be a call missing from the history on one store only.
    s = await backend.open()
    try:
        long_name, long_number = "N" * 300, "1" * 80
        await s.save_call(("alice", "c1", "incoming", "missed", long_number, long_name, 1000, 0), keep=5)
        assert await s.recent_calls("alice", 5) == [
            ("alice", "c1", "incoming", "missed", "1" * 64, "N" * 256, 1000, 0)
        ]
    finally:
        await s.close()


async def test_subscriptions_are_read_grouped_by_owner(backend: Backend) -> None:
    s = await backend.open()
    try:
        for i in range(5):
            await s.add_phone_subscription(f"user{i}", f"w{i}@example.test")
            await s.add_phone_subscription(f"user{i}", f"v{i}@example.test")
        await s.add_phone_subscription("user0", "late@example.test")
        await s.adopt_phone_subscriptions("user0", "uuid-0")
        await s.add_phone_subscription("user0", "new@example.test")  # after the adoption: not adopted
        batches = [batch async for batch in s.phone_subscription_groups(size=2)]
        assert [len(batch) for batch in batches] == [2, 2, 2]
        groups = {
            (alias, uuid): sorted(subscribers) for batch in batches for alias, uuid, subscribers in batch
        }
        assert groups[("user0", "uuid-0")] == ["late@example.test", "v0@example.test", "w0@example.test"]
        assert groups[("user0", None)] == ["new@example.test"]
        rows = sorted(
            (alias, subscriber, uuid)
            for (alias, uuid), subscribers in groups.items()
            for subscriber in subscribers
        )
        assert rows == await s.all_phone_subscriptions()
    finally:
        await s.close()
