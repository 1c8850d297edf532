"""Directory ranking and merging, without I/O."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from presence.directory import (
    CombinedDirectory,
    DirectoryEntry,
    DirectoryUnavailable,
    NumberKind,
    WazoUsersDirectory,
    rank,
    score,
)
from presence.sources.wazo.confd import Extension, WazoLine, WazoUser
from xmpp_component.commands.ratelimit import RateLimiter


def entry(
    name: str, number: str, kind: NumberKind = NumberKind.EXTENSION, source: str = "t"
) -> DirectoryEntry:
    return DirectoryEntry(name, number, kind, source)


def test_score_orders_match_quality() -> None:
    assert score("bob brown", "Bob Brown") == 100
    assert score("brown", "Bob Brown") == 80
    assert score("bo", "Bob Brown") == 60
    assert score("bro", "Bob Brown") == 50
    assert score("b bro", "Bob Brown") == 40
    assert score("ob", "Bob Brown") == 30
    assert score("zed", "Bob Brown") == 0
    assert score("eloise", "Éloïse Durand") == 80


def test_rank_is_best_first_one_row_per_number() -> None:
    ranked = rank(
        "bob",
        [
            entry("Bobby Tables", "1005"),
            entry("Bob Martin", "+33612345678", NumberKind.MOBILE),
            entry("Bob Martin", "1004"),
            entry("Bob Brown", "1002"),
            entry("Bob Brown (LDAP)", "10 02"),  # same number from another source: dropped
            entry("Jim Bobson", "1006"),
        ],
    )
    assert [(e.name, e.number) for e in ranked] == [
        ("Bob Brown", "1002"),
        ("Bob Martin", "1004"),
        ("Bob Martin", "+33612345678"),
        ("Bobby Tables", "1005"),
        ("Jim Bobson", "1006"),
    ]
    assert len(rank("bob", [entry(f"Bob {i}", str(1000 + i)) for i in range(30)], limit=20)) == 20


class Static:
    def __init__(self, name: str, entries: Sequence[DirectoryEntry] | Exception) -> None:
        self.name = name
        self._entries = entries

    async def search(self, query: str, owner: str = "") -> Sequence[DirectoryEntry]:
        if isinstance(self._entries, Exception):
            raise self._entries
        return self._entries


async def test_combined_directory_survives_one_failing_source_but_not_all() -> None:
    good = Static("wazo", [entry("Bob Brown", "1002")])
    down = Static("ldap", DirectoryUnavailable("ldap is down"))
    assert [e.number for e in await CombinedDirectory([down, good]).search("bob")] == ["1002"]
    with pytest.raises(DirectoryUnavailable, match="ldap is down"):
        await CombinedDirectory([down]).search("bob")


class FakeConfd:
    def __init__(self, users: list[WazoUser]) -> None:
        self.users = users
        self.searches: list[str | None] = []
        self.limits: list[int | None] = []

    async def list_users(
        self, search: str | None = None, *, at_most: int | None = None, **exact: str
    ) -> list[WazoUser]:
        self.searches.append(search)
        self.limits.append(at_most)
        return self.users


async def test_wazo_users_give_one_entry_per_number() -> None:
    line = WazoLine(12, "bob-desk", "sip", "default", (Extension("1002", "default"),))
    bob = WazoUser("u-bob", 2, "Bob", "Brown", "bob@example.test", "bob", "+33612345678", (line,))
    confd = FakeConfd([bob])
    found = await WazoUsersDirectory(lambda: confd).search("bob")
    assert confd.searches == ["bob"]
    assert confd.limits == [100]  # a search reads a bounded number of users, not the whole company
    assert [(e.name, e.number, e.kind, e.wazo_uuid) for e in found] == [
        ("Bob Brown", "1002", NumberKind.EXTENSION, "u-bob"),
        ("Bob Brown", "+33612345678", NumberKind.MOBILE, "u-bob"),
    ]
    with pytest.raises(DirectoryUnavailable, match="not connected"):
        await WazoUsersDirectory(lambda: None).search("bob")


async def test_wazo_users_match_word_prefixes_in_any_order_accents_ignored() -> None:
    desk = WazoLine(13, "zoe-desk", "sip", "default", (Extension("1003", "default"),))
    zoe = WazoUser("u-zoe", 3, "Zoë", "Müller", "zoe.muller@example.test", "zmuller", "", (desk,))
    bob = WazoUser("u-bob", 2, "Bob", "Brown", "bob@example.test", "bob", "+33612345678")
    confd = FakeConfd([zoe, bob])  # confd's substring search may answer more than asked
    wazo = WazoUsersDirectory(lambda: confd)
    assert {e.name for e in await wazo.search("mul")} == {"Zoë Müller"}
    assert {e.name for e in await wazo.search("muller zo")} == {"Zoë Müller"}
    assert confd.searches[-1] == "muller"  # the longest word goes to confd
    assert await wazo.search("ller") == []  # a substring, not the start of a word
    assert await wazo.search("ob") == []
    assert {e.name for e in await wazo.search("brown 345678")} == {"Bob Brown"}


def test_rate_limiter_sliding_window() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 60.0, clock=lambda: now[0])
    assert limiter.acquire("alice") is None
    assert limiter.acquire("alice") is None
    assert limiter.acquire("alice") == pytest.approx(60.0)
    assert limiter.acquire("bob") is None  # per user
    now[0] = 30.0
    assert limiter.acquire("alice") == pytest.approx(30.0)
    now[0] = 60.0
    assert limiter.acquire("alice") is None


def test_the_limiter_forgets_idle_senders_so_strangers_cannot_grow_it() -> None:
    now = [0.0]
    limiter = RateLimiter(5, 60.0, clock=lambda: now[0], max_keys=100)
    for i in range(100):
        assert limiter.acquire(f"stranger{i}@elsewhere.example") is None
    now[0] = 61.0  # all of them idle for longer than the window
    assert limiter.acquire("bob@example.test") is None
    assert len(limiter) == 1
    for i in range(150):  # a burst of new senders within one window is kept (they are not idle)
        limiter.acquire(f"burst{i}@elsewhere.example")
    assert len(limiter) == 151
