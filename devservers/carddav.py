"""Address books in the test Radicale (devservers.radicale), written with plain WebDAV requests,
not with the client under test: an extended MKCOL makes a CardDAV collection, PUT/DELETE cards."""

from __future__ import annotations

from devservers.radicale import RadicaleServer

COMPANY_OWNER = "company"  # the Radicale account that owns the company book
COMPANY_PASSWORD = "pw-company"
MKCOL_ADDRESSBOOK = """<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:set><D:prop>
    <D:resourcetype><D:collection/><C:addressbook/></D:resourcetype>
    <D:displayname>{name}</D:displayname>
  </D:prop></D:set>
</D:mkcol>"""


def book_url(server: RadicaleServer, user: str, book: str = "contacts") -> str:
    return f"{server.base_url}/{user}/{book}/"


def make_address_book(server: RadicaleServer, user: str, book: str = "contacts") -> str:
    url = book_url(server, user, book)
    server.request(user, "MKCOL", url, MKCOL_ADDRESSBOOK.format(name=book).encode(), "application/xml")
    return url


def vcard(uid: str, name: str, *tels: tuple[str, str], version: str = "3.0") -> str:
    """A card with FN/N and ``(type, number)`` TELs."""
    family = name.split()[-1]
    given = " ".join(name.split()[:-1])
    lines = ["BEGIN:VCARD", f"VERSION:{version}", f"UID:{uid}", f"FN:{name}", f"N:{family};{given};;;"]
    lines += [f"TEL;TYPE={kind}:{number}" for kind, number in tels]
    return "\r\n".join([*lines, "END:VCARD", ""])


def put_card(server: RadicaleServer, user: str, uid: str, text: str, book: str = "contacts") -> str:
    url = f"{book_url(server, user, book)}{uid}.vcf"
    server.request(user, "PUT", url, text.encode(), "text/vcard; charset=utf-8")
    return url


def delete_card(server: RadicaleServer, user: str, uid: str, book: str = "contacts") -> None:
    server.request(user, "DELETE", f"{book_url(server, user, book)}{uid}.vcf")
