"""Phone-JID subscriptions: durable, changes applied in arrival order, keyed by Wazo uuid (with
the migration of a v1 database whose rows are adopted at the first read of Wazo's users)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from presence.identity import MatchRule, PbxUser, People, build_people
from presence.privacy import OwnerPrivacy
from store import Store
from store.db import MIGRATIONS, SCHEMA_VERSION
from tests.conftest import StoreOpener
from xmpp_component.subscriptions import PhoneSubscriptions
from xmpp_component.user_settings import UserSettings

ALICE = "11111111-1111-4111-8111-111111111111"
BOB = "22222222-2222-4222-8222-222222222222"


async def test_subscribe_then_unsubscribe_at_once_ends_unsubscribed_everywhere(
    store_opener: StoreOpener, tmp_path: Path
) -> None:
    async with store_opener() as store:
        subscriptions = PhoneSubscriptions(store)
        added, removed = await asyncio.gather(
            subscriptions.add("alice", "bob@example.test", ALICE),
            subscriptions.remove("alice", "bob@example.test"),
        )
        assert (added, removed) == (True, True)
        assert not subscriptions.is_subscribed("alice", "bob@example.test")
        assert await store.all_phone_subscriptions() == []


async def test_subscriptions_survive_a_reload(store_opener: StoreOpener, tmp_path: Path) -> None:
    async with store_opener() as store:
        first = PhoneSubscriptions(store)
        await first.add("alice", "bob@example.test", ALICE)
        await first.add("alice", "carol@example.test", ALICE)
        await first.add("bob", "alice@example.test", BOB)
        second = PhoneSubscriptions(store)
        await second.load()
        assert sorted(second.owners()) == [ALICE, BOB]
        assert second.subscribers(ALICE) == {"alice": {"bob@example.test", "carol@example.test"}}
        assert second.count() == 3


async def test_a_reload_rebuilds_every_kind_of_row(store_opener: StoreOpener) -> None:
    # The load indexes rows alias by alias: one alias with two owners (a new user took over a
    # renamed user's name), rows not adopted yet among owned ones, and many rows per alias.
    carol = "33333333-3333-4333-8333-333333333333"
    async with store_opener() as store:
        await store.add_phone_subscription("alice", "bob@example.test", ALICE)
        await store.add_phone_subscription("alice", "carol@example.test", ALICE)
        await store.add_phone_subscription("alice", "dave@example.test", carol)
        await store.add_phone_subscription("alice", "erin@example.test", None)
        for k in range(30):
            await store.add_phone_subscription("bob", f"w{k:02}@example.test", BOB)
        await store.add_phone_subscription("gone", "bob@example.test", None)
        subscriptions = PhoneSubscriptions(store)
        await subscriptions.load()
        assert sorted(subscriptions.owners()) == sorted([ALICE, BOB, carol])
        assert subscriptions.subscribers(ALICE) == {"alice": {"bob@example.test", "carol@example.test"}}
        assert subscriptions.subscribers(carol) == {"alice": {"dave@example.test"}}
        assert subscriptions.subscribers(BOB) == {"bob": {f"w{k:02}@example.test" for k in range(30)}}
        assert subscriptions.owner_of("alice", "erin@example.test") is None
        assert subscriptions.is_subscribed("alice", "erin@example.test")
        assert subscriptions.is_subscribed("gone", "bob@example.test")
        assert subscriptions.count() == 35
        assert sorted(subscriptions.rows()) == sorted(await store.all_phone_subscriptions())
        # The rows without an owner wait for adoption: alice's erin row is hers once she is read.
        assert await subscriptions.adopt(people("alice@example.test")) == 1
        assert subscriptions.owner_of("alice", "erin@example.test") == ALICE


def v1_database(path: Path) -> None:
    """A database as the previous release left it: schema v1, rows keyed by localpart / chat JID."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    db.execute("INSERT INTO schema_version (version) VALUES (1)")
    db.executemany(
        "INSERT INTO phone_subscriptions (owner, subscriber) VALUES (?, ?)",
        [("alice", "bob@example.test"), ("alice", "carol@example.test"), ("gone", "bob@example.test")],
    )
    privacy = '{"privacy": {"hidden": true, "visible_to": ["bob@example.test"]}}'
    db.execute(
        "INSERT INTO user_settings (user_jid, settings) VALUES (?, ?)", ("alice@example.test", privacy)
    )
    db.commit()
    db.close()


def people(email: str) -> People:
    return build_people(
        [PbxUser(ALICE, email=email), PbxUser(BOB, email="bob@example.test")],
        MatchRule.EMAIL,
        ["example.test"],
    )[0]


async def test_a_v1_database_is_migrated_and_its_rows_follow_the_user_through_a_rename(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v1.sqlite"
    v1_database(path)
    async with Store(path) as store:
        assert await store.schema_version() == SCHEMA_VERSION
        subscriptions, settings = PhoneSubscriptions(store), UserSettings(store)
        await subscriptions.load()
        await settings.load()
        # Before Wazo's users are read, the rows are known by name only.
        assert subscriptions.is_subscribed("alice", "bob@example.test")
        assert subscriptions.owners() == []
        # The first read maps alice@ to her uuid: her rows become hers (in the store too).
        assert await subscriptions.adopt(people("alice@example.test")) == 2
        assert await settings.adopt(people("alice@example.test")) == 1
    async with Store(path) as store:
        subscriptions, settings = PhoneSubscriptions(store), UserSettings(store)
        await subscriptions.load()
        await settings.load()
        renamed = people("alice.smith@example.test")  # her email changed meanwhile
        assert await subscriptions.adopt(renamed) == 0
        assert await settings.adopt(renamed) == 0
        assert subscriptions.subscribers(ALICE) == {"alice": {"bob@example.test", "carol@example.test"}}
        assert subscriptions.owner_of("alice", "bob@example.test") == ALICE
        assert settings.privacy(ALICE) == OwnerPrivacy(
            hidden=True, visible_to=frozenset({"bob@example.test"})
        )
        # A new watcher of her new name is one more alias of the same user.
        await subscriptions.add("alice.smith", "dave@example.test", ALICE)
        assert subscriptions.subscribers(ALICE) == {
            "alice": {"bob@example.test", "carol@example.test"},
            "alice.smith": {"dave@example.test"},
        }
        # A row nobody maps to keeps waiting, untouched.
        assert subscriptions.is_subscribed("gone", "bob@example.test")
        assert subscriptions.owner_of("gone", "bob@example.test") is None
        # ...until a later read maps someone to that name; then it is theirs.
        back = build_people(
            [PbxUser(ALICE, email="alice.smith@example.test"), PbxUser(BOB, email="gone@example.test")],
            MatchRule.EMAIL,
            ["example.test"],
        )[0]
        assert await subscriptions.adopt(back) == 1
        assert subscriptions.owner_of("gone", "bob@example.test") == BOB
        assert await subscriptions.adopt(back) == 0
        # Her privacy, saved again under the new chat JID, stays one row.
        await settings.set_privacy(ALICE, "alice.smith@example.test", OwnerPrivacy())
        assert {jid: text for jid, _uuid, text in await store.all_settings_rows()} == {
            "alice.smith@example.test": '{"privacy": {"hidden": false, "visible_to": []}}'
        }
