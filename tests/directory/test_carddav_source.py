"""CardDAV books in a real Radicale: the company book and personal books synced incrementally
into SQLite and searched; a personal book only for its owner; a malformed card skipped with its
href in the log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devservers.carddav import (
    COMPANY_OWNER,
    COMPANY_PASSWORD,
    delete_card,
    make_address_book,
    put_card,
    vcard,
)
from devservers.radicale import USERS, RadicaleServer
from presence.directory import NumberKind
from presence.directory.address_book import COMPANY_BOOK, AddressBookDirectory, AddressBooks, personal_book
from presence.sources.carddav import AddressBookSync, CardDavReader
from store import Store

pytestmark = pytest.mark.server

ALICE = "alice@example.test"
BOB = "bob@example.test"


@pytest.fixture(scope="module")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    server = RadicaleServer(tmp_path_factory.mktemp("radicale-carddav"))
    server.users = {**USERS, COMPANY_OWNER: COMPANY_PASSWORD}
    server.start()  # raises (failing the tests) if Radicale cannot start: never a skip
    try:
        make_address_book(server, COMPANY_OWNER)
        make_address_book(server, "alice")
        make_address_book(server, "bob")
        yield server
    finally:
        server.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store(tmp_path / "s.sqlite") as opened:
        yield opened


def syncer(dav: RadicaleServer, store: Store, books: AddressBooks) -> AddressBookSync:
    reader = CardDavReader(dav.service_user, dav.service_password, 10.0)
    sync = AddressBookSync(reader, store, books, 3600)
    sync.set_books(
        {
            COMPANY_BOOK: f"{dav.base_url}/{COMPANY_OWNER}/contacts/",
            personal_book(ALICE): f"{dav.base_url}/alice/contacts/",
            personal_book(BOB): f"{dav.base_url}/bob/contacts/",
        }
    )
    return sync


async def test_books_sync_incrementally_and_personal_ones_stay_personal(
    dav: RadicaleServer, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    put_card(
        dav, COMPANY_OWNER, "reception", vcard("reception", "Accueil Siège", ("WORK", "+33 1 40 00 00 00"))
    )
    put_card(dav, COMPANY_OWNER, "zoe", vcard("zoe", "Zoë Lefèvre", ("WORK", "+33 1 40 00 00 01")))
    put_card(dav, "alice", "plumber", vcard("plumber", "Mario Plombier", ("CELL", "06 11 22 33 44")))
    put_card(dav, "bob", "mum", vcard("mum", "Maman Martin", ("HOME", "+33 2 99 00 00 00")))
    # A card Radicale stores but that names no one: skipped, its href in the log
    put_card(
        dav,
        COMPANY_OWNER,
        "broken",
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:broken\r\nFN:\r\nN:;;;;\r\nTEL:123\r\nEND:VCARD\r\n",
    )

    books = AddressBooks()
    company = AddressBookDirectory(books, "company", lambda owner: COMPANY_BOOK)
    personal = AddressBookDirectory(books, "personal", personal_book)
    sync = syncer(dav, store, books)
    with caplog.at_level(logging.WARNING, "presence.sources.carddav"):
        await sync.sync_all()
    assert any("/company/contacts/broken.vcf" in r.getMessage() for r in caplog.records), caplog.text
    try:
        found = await company.search("zoe lefevre", ALICE)
        assert [(e.name, e.number, e.kind, e.source) for e in found] == [
            ("Zoë Lefèvre", "+33 1 40 00 00 01", NumberKind.WORK, "company")
        ]
        assert [e.number for e in await personal.search("mario", ALICE)] == ["06 11 22 33 44"]
        assert await personal.search("mario", BOB) == []  # alice's plumber is not bob's
        assert await personal.search("maman", ALICE) == []
        assert [e.kind for e in await personal.search("maman", BOB)] == [NumberKind.HOME]

        # added, changed, deleted on the server: visible after the next sync, which is incremental
        token = await store.address_book_token(COMPANY_BOOK)
        assert token
        put_card(dav, COMPANY_OWNER, "new", vcard("new", "Nina Nouvelle", ("WORK", "+33 1 40 00 00 02")))
        put_card(dav, COMPANY_OWNER, "zoe", vcard("zoe", "Zoë Lefèvre", ("CELL", "+33 6 40 00 00 01")))
        delete_card(dav, COMPANY_OWNER, "reception")
        delta = await sync.reader.read(f"{dav.base_url}/{COMPANY_OWNER}/contacts/", token)
        assert not delta.full
        assert set(delta.cards) == {"/company/contacts/new.vcf", "/company/contacts/zoe.vcf"}
        assert delta.deleted == {"/company/contacts/reception.vcf"}
        await sync.sync_all()
        assert [e.number for e in await company.search("nina", ALICE)] == ["+33 1 40 00 00 02"]
        assert [(e.number, e.kind) for e in await company.search("zoe", ALICE)] == [
            ("+33 6 40 00 00 01", NumberKind.MOBILE)
        ]
        assert await company.search("accueil", ALICE) == []

        # the cache: a new process searches before its first read of the server
        cold = AddressBooks()
        await syncer(dav, store, cold)._load(COMPANY_BOOK)
        assert [e.number for e in cold.search(COMPANY_BOOK, "nina", "company")] == ["+33 1 40 00 00 02"]
    finally:
        await sync.reader.close()


async def test_plain_prefixes_find_accented_names_in_the_synced_books(
    dav: RadicaleServer, store: Store
) -> None:
    put_card(dav, COMPANY_OWNER, "muller", vcard("muller", "Jürgen Müller", ("WORK", "+49 30 5550201")))
    put_card(dav, COMPANY_OWNER, "soren", vcard("soren", "Søren Østergaard", ("WORK", "+45 33 55 02 02")))
    put_card(dav, "alice", "zoe", vcard("zoe", "Zoë Łukasiewicz", ("CELL", "06 55 50 02 03")))
    books = AddressBooks()
    company = AddressBookDirectory(books, "company", lambda owner: COMPANY_BOOK)
    personal = AddressBookDirectory(books, "personal", personal_book)
    sync = syncer(dav, store, books)
    try:
        await sync.sync_all()
        for query, name in [
            ("mul", "Jürgen Müller"),
            ("jur mul", "Jürgen Müller"),
            ("sor", "Søren Østergaard"),
        ]:
            assert {e.name for e in await company.search(query, ALICE)} == {name}, query
        assert {e.name for e in await company.search("oster", ALICE)} == {"Søren Østergaard"}
        assert {e.name for e in await personal.search("zo", ALICE)} == {"Zoë Łukasiewicz"}
        assert {e.name for e in await personal.search("luk", ALICE)} == {"Zoë Łukasiewicz"}
        assert await company.search("ller", ALICE) == []  # a prefix of a word, not any substring
    finally:
        await sync.reader.close()
