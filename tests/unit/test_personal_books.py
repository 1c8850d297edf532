"""Which personal address books are synced: a user's own, never another's through their name."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from presence.identity import People, Person
from xmpp_component.config import Config
from xmpp_component.directory_sources import personal_book, set_address_book_users


class Books:
    def __init__(self) -> None:
        self.urls: dict[str, str] = {}

    def set_books(self, urls: dict[str, str]) -> None:
        self.urls = urls


def test_a_localpart_that_is_a_path_gets_no_personal_book() -> None:
    """ "x%2f..%2falice" is a valid chat localpart (from a Wazo e-mail); in the template it made
    .../x%2f..%2falice/contacts/, which a server decoding it (Radicale) resolves to alice's book:
    that user would have searched alice's private contacts."""
    config = cast(
        Config,
        SimpleNamespace(
            carddav=SimpleNamespace(
                company_url="", personal_url_template="https://dav.test/{localpart}/contacts/"
            )
        ),
    )
    jids = ["alice@example.test", "x%2f..%2falice@example.test", "../alice@example.test", "..@example.test"]
    people = People({jid: Person(jid, f"uuid-{n}", jid.split("@")[0], "") for n, jid in enumerate(jids)})
    books = Books()
    set_address_book_users(config, cast(Any, books), people)
    assert books.urls == {personal_book("alice@example.test"): "https://dav.test/alice/contacts/"}
