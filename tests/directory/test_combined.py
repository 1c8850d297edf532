"""One search over every source: concurrency with a deadline, notes, ranking by source, dedup by
E.164. Pure sources here; the real servers are in test_all_sources.py."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from presence.directory import CombinedDirectory, DirectoryEntry, DirectoryUnavailable, NumberKind, rank
from presence.directory.ranking import number_key


def e(name: str, number: str, source: str, kind: NumberKind = NumberKind.WORK) -> DirectoryEntry:
    return DirectoryEntry(name, number, kind, source)


class Static:
    def __init__(self, name: str, entries: Sequence[DirectoryEntry], delay: float = 0.0) -> None:
        self.name = name
        self.entries = entries
        self.delay = delay
        self.owners: list[str] = []

    async def search(self, query: str, owner: str = "") -> Sequence[DirectoryEntry]:
        self.owners.append(owner)
        if self.delay:
            await asyncio.Event().wait()  # never answers: only the deadline ends it
        return self.entries


def test_numbers_compare_in_e164() -> None:
    assert number_key("01 23 45 67 89", "FR") == number_key("+33 1 23 45 67 89", "FR") == "+33123456789"
    assert number_key("1002", "FR") == "1002"
    assert number_key("+49 30 5550100") == "+49305550100"


def test_same_number_from_several_sources_keeps_the_best_source_row() -> None:
    ranked = rank(
        "marie",
        [
            e("Marie Curie", "+33 1 55 50 01 02", "company"),
            e("Marie Curie", "01 55 50 01 02", "ldap"),
            e("Marie Curie (perso)", "0155500102", "personal"),
            e("Marie Curie", "+33 6 55 50 01 02", "ldap", NumberKind.MOBILE),
            e("Marie Curie", "1004", "wazo", NumberKind.EXTENSION),
        ],
        region="FR",
    )
    assert [(r.number, r.source) for r in ranked] == [
        ("0155500102", "personal"),  # own contact first (same name score)
        ("1004", "wazo"),  # then colleagues
        ("+33 6 55 50 01 02", "ldap"),  # then LDAP; its landline is the personal row's number
    ]


def test_a_better_name_match_beats_the_source_order() -> None:
    ranked = rank("marie curie", [e("Marie Curiel", "1", "personal"), e("Marie Curie", "2", "company")])
    assert [r.number for r in ranked] == ["2", "1"]


async def test_a_source_late_past_the_deadline_leaves_a_note() -> None:
    ldap = Static("ldap", [e("Marie Curie", "+33155500102", "ldap")], delay=60)
    wazo = Static("wazo", [e("Marie Dupont", "1005", "wazo")])
    result = await CombinedDirectory([ldap, wazo], deadline=0.2).lookup("marie", owner="alice@example.test")
    assert [r.number for r in result.entries] == ["1005"]
    assert result.notes == ["company directory unavailable"]
    assert ldap.owners == wazo.owners == ["alice@example.test"]


async def test_only_when_no_source_answers_is_the_directory_unavailable() -> None:
    class Down:
        name = "company"

        async def search(self, query: str, owner: str = "") -> Sequence[DirectoryEntry]:
            raise DirectoryUnavailable("HTTP 503")

    result = await CombinedDirectory([Down(), Static("wazo", [])]).lookup("x")
    assert result.notes == ["company address book unavailable"]
    with pytest.raises(DirectoryUnavailable, match="HTTP 503"):
        await CombinedDirectory([Down()]).lookup("x")
