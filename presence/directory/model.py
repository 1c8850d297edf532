"""The directory's values and the interface every source implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class NumberKind(StrEnum):
    EXTENSION = "extension"  # a PBX extension (desk phone, softphone)
    MOBILE = "mobile"
    WORK = "work"
    HOME = "home"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One number of one person: a person with two numbers gives two entries (one row each)."""

    name: str
    number: str
    kind: NumberKind
    source: str  # which directory said so, e.g. "wazo"
    wazo_uuid: str = ""  # when the person is a Wazo user


# Who is listed first when names match equally well: the user's own contacts, then colleagues, then
# the company directory (LDAP), then the company address book. Unknown sources come last.
SOURCE_ORDER = {"personal": 0, "wazo": 1, "ldap": 2, "company": 3}


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Ranked entries, and a note per source that could not answer ("company directory unavailable")."""

    entries: list[DirectoryEntry]
    notes: list[str]


class DirectoryUnavailable(Exception):
    """A source cannot answer now (not connected, remote error); the message says why."""


class Directory(Protocol):
    """A searchable address book."""

    name: str

    async def search(self, query: str, owner: str = "") -> Sequence[DirectoryEntry]:
        """Entries whose person matches ``query`` (a name, part of one, or a number), as seen by
        ``owner`` (the searching user's bare chat JID: personal address books are theirs only).

        Raises :class:`DirectoryUnavailable` when the source cannot answer.
        """
        ...
