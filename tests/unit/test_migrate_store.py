"""``phonepresence migrate-store``: an SQLite store copied whole into a new PostgreSQL store, in
one transaction, never into a store that already holds something."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devservers.postgres import PostgresServer
from store import Store
from store.postgres import PostgresStore

pytestmark = pytest.mark.server


async def fill(store: Store | PostgresStore) -> None:
    """A row in every table, through the store's own methods."""
    await store.add_phone_subscription("alice", "bob@example.test", "uuid-a")
    await store.add_phone_subscription("carol", "bob@example.test")
    await store.set_im_subscription("alice@example.test", "approved")
    await store.save_settings("alice@example.test", '{"privacy": {"hidden": true}}', "uuid-a")
    await store.set_roster_items("bob@example.test", [("alice@phone.example.test", "written", "to|A|P")])
    await store.save_call_routing("uuid-a", '{"dnd": true}')
    await store.apply_address_book("company", "tok", True, [("/a.vcf", "e", '{"n": "A"}')], [])


async def everything(store: Store | PostgresStore) -> tuple[object, ...]:
    return (
        await store.all_phone_subscriptions(),
        await store.im_subscriptions(),
        sorted(await store.all_settings_rows()),
        await store.roster_items("bob@example.test"),
        await store.all_call_routing(),
        await store.address_book_token("company"),
        await store.address_book_cards("company"),
    )


def migrate(source: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xmpp_component.cli", "migrate-store", "--from", str(source), "--to", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PHONEPRESENCE_STORE_PASSWORD"},
    )


def test_every_table_is_copied_and_a_second_copy_is_refused(tmp_path: Path, postgres: PostgresServer) -> None:
    source = tmp_path / "old.sqlite"
    url = asyncio.run(postgres.new_database())

    async def prepare() -> tuple[object, ...]:
        async with Store(source) as sqlite:
            await fill(sqlite)
            return await everything(sqlite)

    before = asyncio.run(prepare())
    result = migrate(source, url)
    assert result.returncode == 0, result.stderr
    assert "phone_subscriptions: 2 rows" in result.stdout

    async def read_target() -> tuple[object, ...]:
        async with PostgresStore(url) as target:
            return await everything(target)

    assert asyncio.run(read_target()) == before
    again = migrate(source, url)
    assert again.returncode == 2
    assert "is not empty" in again.stderr
    assert asyncio.run(read_target()) == before  # untouched, not doubled


def test_a_missing_source_is_refused_and_nothing_is_created(tmp_path: Path, postgres: PostgresServer) -> None:
    url = asyncio.run(postgres.new_database())
    result = migrate(tmp_path / "nope.sqlite", url)
    assert result.returncode == 2
    assert "no such SQLite store" in result.stderr
    assert not (tmp_path / "nope.sqlite").exists()
