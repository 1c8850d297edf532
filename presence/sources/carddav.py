"""CardDAV address books read with one WebDAV request per sync, and kept in a local cache.

Why aiohttp and not a DAV library: the component is asyncio already (aiohttp is its HTTP client),
the ``caldav`` package has no address-book API, and an incremental read is one REPORT
sync-collection (RFC 6578) asking for each changed card's ETag and address-data together, so
there is little to gain from a library. A server that forgot the token (403/409
``valid-sync-token``) gets a full read. Cards are parsed with ``vobject``
(:mod:`presence.directory.vcard`); a malformed card is skipped with a log line naming its href.
The parsed cards go to SQLite (a restart searches at once) and to the in-memory index searched.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

import aiohttp
from lxml import etree

from presence.directory.address_book import AddressBooks
from presence.directory.vcard import Contact, VCardError, parse_vcard
from store import StateStore

log = logging.getLogger(__name__)

DAV = "{DAV:}"
CARD = "{urn:ietf:params:xml:ns:carddav}"
SYNC_REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<d:sync-collection xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">
  <d:sync-token>{token}</d:sync-token>
  <d:sync-level>1</d:sync-level>
  <d:prop><d:getetag/><c:address-data/></d:prop>
</d:sync-collection>"""
# No entities, no network, no huge documents: the answer comes from another server.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class SyncError(Exception):
    """The address book could not be read now; the message says why (no secrets)."""


@dataclass(frozen=True, slots=True)
class Delta:
    token: str | None
    full: bool  # the whole book: forget every card not in it
    cards: dict[str, tuple[str, str]] = field(default_factory=dict)  # href -> (etag, vCard text)
    deleted: frozenset[str] = frozenset()


def _href(text: str) -> str:
    return unquote(urlsplit(text).path)


def parse_multistatus(body: bytes) -> tuple[str | None, dict[str, tuple[str, str]], set[str]]:
    """A sync-collection answer: its new token, the cards (href -> etag, data), the deleted hrefs."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as error:
        raise SyncError(f"unreadable WebDAV answer: {error}") from None
    cards: dict[str, tuple[str, str]] = {}
    deleted: set[str] = set()
    for response in root.iter(f"{DAV}response"):
        href = _href(response.findtext(f"{DAV}href", "").strip())
        status = response.findtext(f"{DAV}status", "")
        if " 404" in status:
            deleted.add(href)
            continue
        for propstat in response.iter(f"{DAV}propstat"):
            if " 200" not in propstat.findtext(f"{DAV}status", ""):
                continue
            data = propstat.findtext(f"{DAV}prop/{CARD}address-data")
            etag = propstat.findtext(f"{DAV}prop/{DAV}getetag", "")
            if data is not None:
                cards[href] = (etag, data)
    token = root.findtext(f"{DAV}sync-token")
    return (token.strip() if token else None), cards, deleted


class CardDavReader:
    """One service account reading address books; one HTTP session, created on first use."""

    def __init__(self, username: str, password: str, timeout: float, verify_tls: bool = True) -> None:
        # One header for the session (aiohttp's BasicAuth helper is deprecated in 3.14).
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._authorization = f"Basic {token}"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._verify_tls = verify_tls
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def read(self, url: str, token: str | None) -> Delta:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": self._authorization},
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(ssl=self._verify_tls),
            )
        body = SYNC_REQUEST.format(token=escape(token or ""))
        headers = {"Content-Type": "application/xml; charset=utf-8", "Depth": "1"}
        try:
            async with self._session.request("REPORT", url, data=body.encode(), headers=headers) as reply:
                payload = await reply.read()
                status = reply.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SyncError(f"{type(error).__name__} {error}".strip()) from None
        if status in (403, 409) and token and b"valid-sync-token" in payload:
            return await self.read(url, None)  # the server forgot the token: read everything
        if status == 404:
            return Delta(None, True)  # no book there (yet): nothing to search
        if status != 207:
            raise SyncError(f"HTTP {status} for REPORT sync-collection")
        new_token, cards, deleted = parse_multistatus(payload)
        return Delta(new_token, token is None, cards, frozenset(deleted))


Reader = Any  # anything with ``async read(url, token) -> Delta``


class AddressBookSync:
    """Keeps the named books (book -> collection URL) in the store and the in-memory index."""

    def __init__(self, reader: Reader, store: StateStore, books: AddressBooks, interval: float) -> None:
        self.reader = reader
        self.store = store
        self.books = books
        self.interval = interval
        self.urls: dict[str, str] = {}
        self._loaded: set[str] = set()
        self._failing: set[str] = set()
        self.synced = asyncio.Condition()  # notified after every sync round (tests wait on it)
        self.rounds = 0
        self._one_round = asyncio.Lock()  # a round asked for (new users) never overlaps the timer's
        self.on_round: Callable[[], None] | None = None  # after each round (the app freezes the GC)
        # Told of every book read: (book, seconds, error or None); feeds Status and /metrics.
        self.on_sync: Callable[[str, float, str | None], None] | None = None

    @property
    def readable(self) -> int:
        """Books whose last read succeeded (or that were not read yet)."""
        return len(set(self.urls) - self._failing)

    def set_books(self, urls: Mapping[str, str]) -> None:
        self.urls = dict(urls)

    async def _load(self, book: str) -> None:
        """From the cache, before the first read: searches work while the server is slow or down."""
        if book in self._loaded:
            return
        self._loaded.add(book)
        cached = await self.store.address_book_cards(book)
        self.books.replace(book, {href: Contact.from_json(text) for href, text in cached.items()})

    async def sync(self, book: str, url: str) -> None:
        await self._load(book)
        token = await self.store.address_book_token(book)
        started = time.perf_counter()
        try:
            delta = await self.reader.read(url, token)
        except SyncError as error:
            if self.on_sync is not None:
                self.on_sync(book, time.perf_counter() - started, str(error) or "SyncError")
            if book not in self._failing:  # one line when it breaks, one when it is back
                log.warning("address book %s (%s) cannot be read: %s", book, url, error)
                self._failing.add(book)
            return
        if self.on_sync is not None:
            self.on_sync(book, time.perf_counter() - started, None)
        if book in self._failing:
            log.info("address book %s (%s) readable again", book, url)
            self._failing.discard(book)
        parsed: dict[str, Contact] = {}
        rows = []
        skipped = []
        for href, (etag, text) in delta.cards.items():
            try:
                contact = parse_vcard(text)
            except VCardError as error:
                log.warning("address book %s: card %s skipped: %s", book, href, error)
                skipped.append(href)  # an older good version must not stay searchable
                continue
            parsed[href] = contact
            rows.append((href, etag, contact.to_json()))
        deleted = [*delta.deleted, *skipped]
        await self.store.apply_address_book(book, delta.token, delta.full, rows, deleted)
        if delta.full:
            self.books.replace(book, parsed)
        else:
            self.books.apply(book, parsed, deleted)

    async def sync_all(self) -> None:
        async with self._one_round:
            for book, url in list(self.urls.items()):
                await self.sync(book, url)
        if self.on_round is not None:
            self.on_round()
        async with self.synced:
            self.rounds += 1
            self.synced.notify_all()

    async def run(self) -> None:
        try:
            while True:
                await self.sync_all()
                await asyncio.sleep(self.interval)
        finally:
            close = getattr(self.reader, "close", None)
            if close is not None:
                await close()
