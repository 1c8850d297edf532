"""Address books kept in memory for search: each book maps card hrefs to contacts. Pure, no I/O.

The CardDAV sync fills it (and the SQLite cache behind it); a search never waits for the server.
Books are named: "company" for the company book, "personal:<bare chat JID>" for a user's own, and
a personal book is only ever searched for that user (:class:`AddressBookDirectory`).

A search must stay fast with tens of thousands of cards: each book keeps a sorted list of the
folded words of its names, so the first word typed is a range lookup (bisect), and only the cards
found that way are checked against the other words. The list is rebuilt after a change, at the
next search.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence

from presence.directory.ldap_query import Match, digits_of, words_of
from presence.directory.model import DirectoryEntry
from presence.directory.vcard import Contact

COMPANY_BOOK = "company"


def personal_book(owner: str) -> str:
    return f"personal:{owner.lower()}"


def _names(contact: Contact) -> list[str]:
    return [contact.name, *(e.split("@", 1)[0].replace(".", " ") for e in contact.emails)]


class _Book:
    def __init__(self) -> None:
        self.cards: dict[str, Contact] = {}
        self._words: list[tuple[str, str]] | None = None  # (folded word, href), sorted
        # href -> the card's folded words and its numbers' digits, folded once, not at each search
        self._folded: dict[str, tuple[list[str], list[str]]] = {}

    def words(self) -> list[tuple[str, str]]:
        if self._words is None:
            self._folded = {
                href: (words_of(_names(contact)), [digits_of(n) for n, _ in contact.numbers])
                for href, contact in self.cards.items()
            }
            self._words = sorted(
                (word, href) for href, (words, _) in self._folded.items() for word in set(words)
            )
        return self._words

    def folded(self, href: str) -> tuple[list[str], list[str]]:
        self.words()
        return self._folded[href]

    def changed(self) -> None:
        self._words = None


class AddressBooks:
    def __init__(self) -> None:
        self._books: dict[str, _Book] = {}

    def replace(self, book: str, cards: Mapping[str, Contact]) -> None:
        self._books[book] = entry = _Book()
        entry.cards = dict(cards)

    def apply(self, book: str, changed: Mapping[str, Contact], deleted: Sequence[str]) -> None:
        entry = self._books.setdefault(book, _Book())
        for href in deleted:
            entry.cards.pop(href, None)
        entry.cards.update(changed)
        entry.changed()

    def contacts(self, book: str) -> Mapping[str, Contact]:
        entry = self._books.get(book)
        return entry.cards if entry is not None else {}

    def search(self, book: str, query: str, source: str) -> list[DirectoryEntry]:
        entry = self._books.get(book)
        match = Match.of(query)
        if entry is None or match is None:
            return []
        index = entry.words()
        if match.prefixes:
            first = match.prefixes[0]
            start = bisect.bisect_left(index, (first, ""))
            end = bisect.bisect_left(index, (first + "\U0010ffff", ""))
            hrefs = list(dict.fromkeys(href for _word, href in index[start:end]))
        else:
            hrefs = list(entry.cards)  # digits only: a scan of the numbers
        found = []
        for href in hrefs:
            if match.accepts(*entry.folded(href)):
                contact = entry.cards[href]
                found += [DirectoryEntry(contact.name, n, kind, source) for n, kind in contact.numbers]
        return found


class AddressBookDirectory:
    """One kind of book as a directory source: ``book_of(owner)`` says which book a user sees."""

    def __init__(self, books: AddressBooks, name: str, book_of: Callable[[str], str]) -> None:
        self.name = name
        self._books = books
        self._book_of = book_of

    async def search(self, query: str, owner: str = "") -> Sequence[DirectoryEntry]:
        if self.name == "personal" and not owner:
            return []  # a personal book is never searched for no one in particular
        return self._books.search(self._book_of(owner), query, self.name)
