"""Address books kept in memory for search: each book maps card hrefs to contacts. Pure, no I/O.

The CardDAV sync fills it (and the SQLite cache behind it); a search never waits for the server.
Books are named: "company" for the company book, "personal:<bare chat JID>" for a user's own, and
a personal book is only ever searched for that user (:class:`AddressBookDirectory`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from presence.directory.ldap_query import matches
from presence.directory.model import DirectoryEntry
from presence.directory.vcard import Contact

COMPANY_BOOK = "company"


def personal_book(owner: str) -> str:
    return f"personal:{owner.lower()}"


class AddressBooks:
    def __init__(self) -> None:
        self._books: dict[str, dict[str, Contact]] = {}

    def replace(self, book: str, cards: Mapping[str, Contact]) -> None:
        self._books[book] = dict(cards)

    def apply(self, book: str, changed: Mapping[str, Contact], deleted: Sequence[str]) -> None:
        cards = self._books.setdefault(book, {})
        for href in deleted:
            cards.pop(href, None)
        cards.update(changed)

    def contacts(self, book: str) -> Mapping[str, Contact]:
        return self._books.get(book, {})

    def search(self, book: str, query: str, source: str) -> list[DirectoryEntry]:
        entries = []
        for contact in self._books.get(book, {}).values():
            names = [contact.name, *(e.split("@", 1)[0].replace(".", " ") for e in contact.emails)]
            if matches(query, names, [number for number, _ in contact.numbers]):
                entries += [DirectoryEntry(contact.name, n, kind, source) for n, kind in contact.numbers]
        return entries


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
