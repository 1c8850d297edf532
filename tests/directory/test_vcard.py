"""vCard parsing and the in-memory address books (no server)."""

from __future__ import annotations

import pytest

from presence.directory import NumberKind
from presence.directory.address_book import AddressBookDirectory, AddressBooks, personal_book
from presence.directory.vcard import Contact, VCardError, parse_vcard

V3 = """BEGIN:VCARD
VERSION:3.0
FN:Zoë Lefèvre
N:Lefèvre;Zoë;;;
ORG:Acme SA
TEL;TYPE=WORK,VOICE:+33 1 44 00 00 01
TEL;TYPE=CELL:06 12 00 00 01
EMAIL;TYPE=INTERNET:zoe@acme.example
END:VCARD
"""

V4 = """BEGIN:VCARD
VERSION:4.0
FN:Jürgen Groß
TEL;VALUE=uri;TYPE="home,voice":tel:+49-30-5550199
TEL;VALUE=uri:tel:+49-30-5550198
END:VCARD
"""


def test_vcard3_and_4() -> None:
    zoe = parse_vcard(V3)
    assert zoe == Contact(
        "Zoë Lefèvre",
        (("+33 1 44 00 00 01", NumberKind.WORK), ("06 12 00 00 01", NumberKind.MOBILE)),
        "Acme SA",
        ("zoe@acme.example",),
    )
    assert Contact.from_json(zoe.to_json()) == zoe
    jurgen = parse_vcard(V4)
    assert jurgen.numbers == (("+49-30-5550199", NumberKind.HOME), ("+49-30-5550198", NumberKind.OTHER))


@pytest.mark.parametrize(
    "text",
    [
        "not a card",
        "BEGIN:VCARD\nVERSION:3.0\nEND:VCARD\n",  # no name
        "BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n",
        "BEGIN:VCARD\nVERSION:3.0\nFN:x\n",  # never ends
    ],
)
def test_malformed_cards_raise_a_precise_error(text: str) -> None:
    with pytest.raises(VCardError):
        parse_vcard(text)


async def test_personal_books_are_only_searched_for_their_owner() -> None:
    books = AddressBooks()
    books.replace(personal_book("alice@example.test"), {"/a/1.vcf": parse_vcard(V3)})
    personal = AddressBookDirectory(books, "personal", personal_book)
    assert [e.number for e in await personal.search("zoe", "alice@example.test")] == [
        "+33 1 44 00 00 01",
        "06 12 00 00 01",
    ]
    assert await personal.search("zoe", "bob@example.test") == []
    assert await personal.search("zoe", "") == []
    assert [e.source for e in await personal.search("lefevre", "ALICE@example.test")] == ["personal"] * 2


def test_the_word_index_finds_any_word_prefix_digits_and_follows_changes() -> None:
    books = AddressBooks()
    books.replace("company", {"/c/1.vcf": parse_vcard(V3), "/c/2.vcf": parse_vcard(V4)})
    assert {e.name for e in books.search("company", "lef", "company")} == {"Zoë Lefèvre"}
    assert {e.name for e in books.search("company", "ZOE lef", "company")} == {"Zoë Lefèvre"}
    assert {e.name for e in books.search("company", "gross", "company")} == {"Jürgen Groß"}  # ß folds to ss
    assert {e.number for e in books.search("company", "5550199", "company")} == {
        "+49-30-5550199",
        "+49-30-5550198",
    }
    books.apply("company", {}, ["/c/1.vcf"])
    assert books.search("company", "lef", "company") == []
    assert {e.name for e in books.search("company", "jur", "company")} == {"Jürgen Groß"}
