"""The SQLite store: WAL, versioned forward-only migrations, state kept across reopen."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from store import SchemaError, Store
from store.db import SCHEMA_VERSION


async def test_new_database_is_migrated_to_the_latest_version_in_wal_mode(tmp_path: Path) -> None:
    async with Store(tmp_path / "sub" / "db.sqlite") as store:
        assert await store.schema_version() == SCHEMA_VERSION
        async with store.db.execute("PRAGMA journal_mode") as cursor:
            assert (await cursor.fetchone())[0] == "wal"


async def test_an_acknowledged_write_is_synced_to_disk_before_the_commit_returns(tmp_path: Path) -> None:
    # synchronous=FULL: with WAL, NORMAL may lose the last commits on a power loss, and a
    # subscription is acknowledged ("subscribed") right after its commit.
    async with Store(tmp_path / "db.sqlite") as store, store.db.execute("PRAGMA synchronous") as cursor:
        assert (await cursor.fetchone())[0] == 2  # FULL


async def test_state_survives_a_reopen_and_migrations_do_not_run_twice(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    async with Store(path) as store:
        assert await store.add_phone_subscription("alice", "bob@example.test")
        assert not await store.add_phone_subscription("alice", "bob@example.test")
        await store.set_im_subscription("alice@example.test", "pending")
        await store.set_im_subscription("alice@example.test", "approved")
        await store.save_settings("alice@example.test", '{"calendar": true}')
    async with Store(path) as store:
        assert await store.all_phone_subscriptions() == [("alice", "bob@example.test", None)]
        assert await store.im_subscriptions() == {"alice@example.test": "approved"}
        assert {j: t for j, _u, t in await store.all_settings_rows()}.get(
            "alice@example.test"
        ) == '{"calendar": true}'
        assert await store.counts() == {"phone_subscriptions": 1, "im_subscriptions_approved": 1}
        assert await store.remove_phone_subscription("alice", "bob@example.test")
        assert await store.all_phone_subscriptions() == []


async def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    async with Store(path) as store:
        await store.add_phone_subscription("alice", "bob@example.test")
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaError, match="newer than this program supports"):
        await Store(path).open()
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT count(*) FROM phone_subscriptions").fetchone()[0] == 1


async def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path, monkeypatch) -> None:
    import store.db as db

    broken = (*db.MIGRATIONS, ("CREATE TABLE extra (x INTEGER)", "THIS IS NOT SQL"))
    monkeypatch.setattr(db, "MIGRATIONS", broken)
    monkeypatch.setattr(db, "SCHEMA_VERSION", len(broken))
    path = tmp_path / "db.sqlite"
    with pytest.raises(sqlite3.OperationalError):
        await db.Store(path).open()
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version FROM schema_version").fetchone()[0] == len(broken) - 1
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "extra" not in tables


async def test_roster_items_written_are_kept_per_roster(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    async with Store(path) as store:
        await store.set_roster_items("bob@example.test", [("alice@phone.example.test", "written", "to|A|P")])
        await store.set_roster_items("bob@example.test", [("carol@phone.example.test", "written", "to|C|P")])
        await store.set_roster_items("bob@example.test", [("alice@phone.example.test", "removed", "")])
        await store.set_roster_items("carol@example.test", [("phone.example.test", "written", "both")])
    async with Store(path) as store:
        assert sorted(await store.roster_items("bob@example.test")) == [
            ("alice@phone.example.test", "removed", ""),
            ("carol@phone.example.test", "written", "to|C|P"),
        ]
        await store.forget_roster_items("bob@example.test", ["carol@phone.example.test"])
        assert await store.roster_items("bob@example.test") == [("alice@phone.example.test", "removed", "")]
        assert sorted(await store.roster_owners()) == ["bob@example.test", "carol@example.test"]


async def test_call_history_is_kept_bounded_per_user_newest_first_and_a_call_is_rewritten_in_place(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    async with Store(path) as store:
        for i in range(5):
            await store.save_call(
                ("alice", f"c{i}", "incoming", "missed", "1002", "Bob", 1000 + i, 0), keep=3
            )
        await store.save_call(("bob", "c0", "outgoing", "answered", "1001", "", 999, 12), keep=3)
        # the same call again (a voicemail for a missed call): one row, new outcome
        await store.save_call(("alice", "c4", "incoming", "voicemail", "1002", "Bob", 1004, 0), keep=3)
    async with Store(path) as store:
        rows = await store.recent_calls("alice", 10)
        assert [(r[1], r[3]) for r in rows] == [("c4", "voicemail"), ("c3", "missed"), ("c2", "missed")]
        assert await store.recent_calls("bob", 10) == [
            ("bob", "c0", "outgoing", "answered", "1001", "", 999, 12)
        ]
        assert [r[1] for r in await store.recent_calls("alice", 2)] == ["c4", "c3"]
