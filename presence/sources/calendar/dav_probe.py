"""One small WebDAV request, made often: ``PROPFIND`` Depth 0 of a collection's getctag and
sync-token, on the component's small HTTP/1.1 client (:mod:`presence.sources.http1`, which says
why not aiohttp: with 10,000 users read every minute this request runs ~170 times a second).

The request bytes of each URL are built once and reused. The reply's body is a server's XML: its
two values are read with a pattern, not an XML parser (no entity expansion, no surprises), as
their text has no markup.
"""

from __future__ import annotations

import asyncio
import re

from presence.sources.http1 import Http1Client, Origin, ReplyError, request_bytes, split_url

_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" '
    b'xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:getctag/><d:sync-token/></d:prop></d:propfind>'
)
_TAG_VALUE = re.compile(rb"<(?:[A-Za-z0-9]+:)?(getctag|sync-token)(?:\s[^>]*)?>([^<]*)</", re.IGNORECASE)
_MAX_BODY = 1024 * 1024  # a Depth 0 answer of two properties; more is not a probe's reply


class NoCollection(Exception):
    """404: nothing at the URL."""


class ProbeFailed(Exception):
    """The server answered something else than a 207 multistatus with a tag."""


class DavTagProbe:
    """``await probe.tag(url)``: the collection's getctag (or its sync-token when it has none)."""

    def __init__(self, authorization: str, timeout: float, verify_tls: bool = True) -> None:
        self._authorization = authorization  # the whole header value, e.g. "Basic ..."
        self._timeout = timeout
        self._client = Http1Client(verify_tls, max_body=_MAX_BODY)
        self._targets: dict[str, tuple[Origin, bytes]] = {}  # url -> the whole request, built once

    def _target(self, url: str) -> tuple[Origin, bytes]:
        target = self._targets.get(url)
        if target is None:
            try:
                origin, path = split_url(url)
            except ValueError as error:
                raise ProbeFailed(str(error)) from None
            headers = (
                ("Authorization", self._authorization),
                ("Depth", "0"),
                ("Content-Type", "application/xml; charset=utf-8"),
            )
            target = self._targets[url] = (origin, request_bytes("PROPFIND", origin, path, headers, _BODY))
        return target

    async def tag(self, url: str) -> str:
        origin, request = self._target(url)
        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._client.send(origin, request, idempotent=True)
        except ReplyError as error:
            raise ProbeFailed(f"{url}: {error}") from None
        if reply.status == 404:
            raise NoCollection(url)
        if reply.status != 207:
            raise ProbeFailed(f"HTTP {reply.status} from {url}")
        found: dict[bytes, bytes] = {name.lower(): value for name, value in _TAG_VALUE.findall(reply.body)}
        tag = found.get(b"getctag") or found.get(b"sync-token")
        if not tag:
            raise ProbeFailed(f"no getctag or sync-token for {url}")
        return tag.decode("utf-8", "replace")

    async def close(self) -> None:
        await self._client.close()
