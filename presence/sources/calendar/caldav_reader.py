"""Reads one calendar collection's changes with the ``caldav`` library. Blocking: call it in a
worker thread (:func:`asyncio.to_thread`); the library's async API is newer than its sync one.

Change detection is WebDAV sync-collection (RFC 6578): with the token of the previous read only
the objects added, changed or removed since are transferred. A server without sync support, or
one that forgot the token, gets the library's fallback: a full listing whose token is a hash of
the ETags, so an unchanged calendar still transfers no object data.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape as xml_escape

import caldav
from caldav.davclient import DAVClient
from caldav.lib import error as caldav_error

from presence.sources.calendar.dav_probe import DavTagProbe, NoCollection, ProbeFailed

# caldav: the library logs whole response bodies (event titles, descriptions) at DEBUG, some of
# them through the root logger (caldav/response.py). Event text must never reach a log, whatever
# level the operator chose: below WARNING nothing of the library's passes.
logging.getLogger("caldav").setLevel(logging.WARNING)
_CALDAV_PACKAGE = os.path.dirname(caldav.__file__) + os.sep


def _no_caldav_chatter(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or not record.pathname.startswith(_CALDAV_PACKAGE)


logging.getLogger().addFilter(_no_caldav_chatter)
log = logging.getLogger(__name__)


_DAV = "{DAV:}"
_CALDAV = "{urn:ietf:params:xml:ns:caldav}"
_SYNC_REPORT = (
    '<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:" '
    'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:sync-token>{token}</d:sync-token>'
    "<d:sync-level>1</d:sync-level><d:prop><d:getetag/><c:calendar-data/></d:prop></d:sync-collection>"
)


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


class CtagProbe:
    """``await probe.ctag(url)``: the collection's getctag (or sync-token), one PROPFIND Depth 0
    (see :mod:`.dav_probe` for why it is not made with a general HTTP client)."""

    def __init__(self, username: str, password: str, timeout: float, verify_tls: bool = True) -> None:
        authorization = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._probe = DavTagProbe(authorization, timeout, verify_tls)

    async def ctag(self, url: str) -> str | None:
        """The tag, or None when the server gives none this way (no getctag nor sync-token, a
        redirect, an error status): the calendar is then read, as if it had changed, and that
        read reports the server's errors. Failing here instead left it never read at all."""
        try:
            return await self._probe.tag(url)
        except NoCollection:
            raise NoCalendar(url) from None
        except ProbeFailed as error:
            log.debug("ctag probe of %s: %s; reading the calendar", url, error)
            return None

    async def close(self) -> None:
        await self._probe.close()


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
        client = self._client(url)
        delta = self._read_in_one_report(client, url, token)
        if delta is None and token is not None:
            # An expired or foreign token (the server forgot it, or the library's "fake-" one):
            # start afresh with a real token rather than the library's full listings forever.
            delta = self._read_in_one_report(client, url, None)
        if delta is not None:
            return delta
        return self._read_with_the_library(client, url, token)

    def _read_in_one_report(self, client: DAVClient, url: str, token: str | None) -> Delta | None:
        """A sync-collection REPORT asking for the objects' data too: the changes in one request,
        where the library asks for ETags and then GETs each object (four requests for a calendar of
        three events). None when the server does not answer it plainly (an expired token, no
        sync support, a truncated reply): the library's read then handles the case."""
        body = _SYNC_REPORT.format(token=xml_escape(token or "")).encode()
        try:
            response: Any = client.report(url, body, depth=1)  # type: ignore[arg-type]
        except caldav_error.NotFoundError:
            raise NoCalendar(url) from None
        except caldav_error.DAVError:
            return None
        if response.status == 404:
            raise NoCalendar(url)
        tree = response.tree
        if response.status != 207 or tree is None or tree.tag != f"{_DAV}multistatus":
            return None
        new_token = tree.findtext(f"{_DAV}sync-token")
        if not new_token:
            return None
        objects: dict[str, str] = {}
        deleted: set[str] = set()
        collection = href_of(url).rstrip("/")
        for item in tree.iterfind(f"{_DAV}response"):
            href = href_of(item.findtext(f"{_DAV}href") or "")
            status = item.findtext(f"{_DAV}status") or ""
            if href.rstrip("/") == collection:
                if " 507" in status:
                    return None  # truncated (RFC 6578 3.6): the library pages through it
                continue
            if " 404" in status:
                deleted.add(href)
                continue
            data = item.findtext(f"{_DAV}propstat/{_DAV}prop/{_CALDAV}calendar-data")
            if data is None:
                return None  # the server left the data out: let the library GET the objects
            objects[href] = data
        return Delta(str(new_token), token is None, objects, frozenset(deleted))

    def _read_with_the_library(self, client: DAVClient, url: str, token: str | None) -> Delta:
        calendar = client.calendar(url=url)  # type: ignore[no-untyped-call]
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
