"""Reads one calendar collection's changes with the ``caldav`` library. Blocking: call it in a
worker thread (:func:`asyncio.to_thread`); the library's async API is newer than its sync one.

Change detection is WebDAV sync-collection (RFC 6578): with the token of the previous read only
the objects added, changed or removed since are transferred. A server without sync support, or
one that forgot the token, gets the library's fallback: a full listing whose token is a hash of
the ETags, so an unchanged calendar still transfers no object data.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
import caldav
from caldav.davclient import DAVClient
from caldav.lib import error as caldav_error

# caldav: the library logs whole response bodies (event titles, descriptions) at DEBUG, some of
# them through the root logger (caldav/response.py). Event text must never reach a log, whatever
# level the operator chose: below WARNING nothing of the library's passes.
logging.getLogger("caldav").setLevel(logging.WARNING)
_CALDAV_PACKAGE = os.path.dirname(caldav.__file__) + os.sep


def _no_caldav_chatter(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or not record.pathname.startswith(_CALDAV_PACKAGE)


logging.getLogger().addFilter(_no_caldav_chatter)


class NoCalendar(Exception):
    """The server has no collection at the URL (404): the user has no calendar there."""


@dataclass(frozen=True, slots=True)
class Delta:
    """What changed in one collection since ``token`` was handed out."""

    token: str | None
    full: bool  # ``objects`` is the whole collection: forget every object not in it
    objects: dict[str, str] = field(default_factory=dict)  # href → iCalendar text
    deleted: frozenset[str] = frozenset()  # hrefs


def href_of(url: Any) -> str:
    """The path of an object's URL, percent-decoded (servers differ in what they escape)."""
    return unquote(urlsplit(str(url)).path)


_CTAG_REQUEST = (
    b'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" '
    b'xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:getctag/><d:sync-token/></d:prop></d:propfind>'
)
# The reply is a server's XML: read the two values with a pattern, not an XML parser (no entity
# expansion, no surprises), as their text has no markup.
_TAG_VALUE = re.compile(r"<(?:[A-Za-z0-9]+:)?(getctag|sync-token)(?:\s[^>]*)?>([^<]*)</", re.IGNORECASE)


class CalendarUnreadable(Exception):
    """The server answered the probe with something else than a multistatus."""


class CtagProbe:
    """``await probe.ctag(url)``: the collection's getctag (or sync-token), one PROPFIND Depth 0."""

    def __init__(self, username: str, password: str, timeout: float, verify_tls: bool = True) -> None:
        self._headers = {
            "Authorization": aiohttp.encode_basic_auth(username, password),
            "Depth": "0",
            "Content-Type": "application/xml; charset=utf-8",
        }
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ssl = verify_tls  # True: aiohttp's default verification
        self._session: aiohttp.ClientSession | None = None

    async def ctag(self, url: str) -> str:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.request(
            "PROPFIND", url, data=_CTAG_REQUEST, headers=self._headers, ssl=self._ssl
        ) as response:
            if response.status == 404:
                raise NoCalendar(url)
            if response.status != 207:
                raise CalendarUnreadable(f"HTTP {response.status} from {url}")
            text = await response.text()
        values: dict[str, str] = {str(name).lower(): str(value) for name, value in _TAG_VALUE.findall(text)}
        tag = values.get("getctag") or values.get("sync-token")
        if not tag:
            raise CalendarUnreadable(f"no getctag or sync-token for {url}")
        return tag

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class CalDavReader:
    """One service account; one HTTP client per worker thread (the clients are not thread-safe)."""

    def __init__(self, username: str, password: str, timeout: float, verify_tls: bool = True) -> None:
        self._username = username
        self._password = password
        self._timeout = timeout
        self._verify_tls = verify_tls
        self._local = threading.local()

    def _client(self, url: str) -> DAVClient:
        clients: dict[str, DAVClient] | None = getattr(self._local, "clients", None)
        if clients is None:
            clients = self._local.clients = {}
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        client = clients.get(origin)
        if client is None:
            client = clients[origin] = DAVClient(
                url=origin,
                username=self._username,
                password=self._password,
                timeout=int(self._timeout),
                ssl_verify_cert=self._verify_tls,
            )
        return client

    def read(self, url: str, token: str | None) -> Delta:
        """The changes of the collection at ``url`` since ``token`` (None: everything)."""
        calendar = self._client(url).calendar(url=url)  # type: ignore[no-untyped-call]
        try:
            result: Any = calendar.get_objects_by_sync_token(sync_token=token, load_objects=True)
        except caldav_error.NotFoundError:
            raise NoCalendar(url) from None
        new_token = str(result.sync_token) if result.sync_token is not None else None
        deleted = frozenset(href_of(u) for u in result.deleted_urls)
        objects: dict[str, str] = {}
        for obj in result.objects:
            href = href_of(obj.url)
            if href in deleted:
                continue
            data = obj.data
            if data is None:  # gone between the listing and the GET
                deleted |= {href}
                continue
            objects[href] = str(data)
        fallback = bool(new_token and new_token.startswith("fake-") and objects)
        return Delta(new_token, token is None or fallback, objects, deleted)
