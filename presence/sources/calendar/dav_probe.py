"""One small WebDAV request, made often: ``PROPFIND`` Depth 0 of a collection's getctag and
sync-token, written straight on the socket (plain HTTP) or on asyncio streams (TLS).

Why not aiohttp: with 10,000 users read every minute this request runs ~170 times a second, and
a general client's per-request machinery (request and response objects, header multidicts,
cookie jar, tracing hooks) was most of the component's CPU. Here the request bytes of each URL
are built once and reused, the reply is read with a few ``readuntil`` calls, and a connection is
kept for the next request when the server allows it (HTTP/1.1 without ``Connection: close``).
The reply's body is a server's XML: its two values are read with a pattern, not an XML parser (no
entity expansion, no surprises), as their text has no markup.

Plain HTTP goes on the bare non-blocking socket (``loop.sock_*``, :class:`_PlainConnection`):
Radicale closes every connection, so each probe opens one, and asyncio's transport, protocol and
stream objects per connection were most of what a probe cost (3,000 probes in a loop against a
local server that closes each connection: 355 -> 200 µs of CPU per probe).
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" '
    b'xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:getctag/><d:sync-token/></d:prop></d:propfind>'
)
_TAG_VALUE = re.compile(rb"<(?:[A-Za-z0-9]+:)?(getctag|sync-token)(?:\s[^>]*)?>([^<]*)</", re.IGNORECASE)
_MAX_HEADER = 64 * 1024
_MAX_BODY = 1024 * 1024  # a Depth 0 answer of two properties; more is not a probe's reply
_IDLE_PER_ORIGIN = 8
DNS_TTL = 300.0  # s: how long a resolved server address is used before resolving again


class _Reader(Protocol):
    async def readuntil(self, separator: bytes = ...) -> bytes: ...

    async def readexactly(self, n: int) -> bytes: ...

    async def read(self, n: int) -> bytes: ...


class _Writer(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


class _PlainConnection:
    """A plain connection read and written with ``loop.sock_*``: the few calls of a stream that
    a probe makes, without a transport and a protocol behind them. Errors are the streams' own
    (``IncompleteReadError`` at an early end, ``LimitOverrunError`` for a head too large)."""

    __slots__ = ("_buffer", "_loop", "_sock", "_unsent")

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self._sock = sock
        self._loop = loop
        self._buffer = bytearray()
        self._unsent = b""

    def write(self, data: bytes) -> None:
        # A request of a few hundred bytes into an empty socket buffer leaves at once; what the
        # kernel did not take goes with drain().
        try:
            sent = self._sock.send(data)
        except BlockingIOError:
            sent = 0
        self._unsent = data[sent:]

    async def drain(self) -> None:
        if self._unsent:
            unsent, self._unsent = self._unsent, b""
            await self._loop.sock_sendall(self._sock, unsent)

    async def _fill(self) -> bool:
        """Read what the server sent; False at the end of the connection."""
        data = await self._loop.sock_recv(self._sock, 65536)
        self._buffer += data
        return bool(data)

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        start = 0
        while (found := self._buffer.find(separator, start)) < 0:
            if len(self._buffer) > _MAX_HEADER:
                raise asyncio.LimitOverrunError("separator not found within the limit", len(self._buffer))
            start = max(0, len(self._buffer) - len(separator) + 1)
            if not await self._fill():
                raise asyncio.IncompleteReadError(bytes(self._buffer), None)
        end = found + len(separator)
        chunk = bytes(self._buffer[:end])
        del self._buffer[:end]
        return chunk

    async def readexactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            if not await self._fill():
                raise asyncio.IncompleteReadError(bytes(self._buffer), n)
        chunk = bytes(self._buffer[:n])
        del self._buffer[:n]
        return chunk

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes, waiting for some if none are buffered; b"" at the end."""
        if not self._buffer:
            await self._fill()
        size = min(n, len(self._buffer))
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        return chunk

    def close(self) -> None:
        self._sock.close()


Connection = tuple[_Reader, _Writer]


class NoCollection(Exception):
    """404: nothing at the URL."""


class ProbeFailed(Exception):
    """The server answered something else than a 207 multistatus with a tag."""


@dataclass(frozen=True, slots=True)
class _Target:
    host: str
    port: int
    tls: bool
    request: bytes  # the whole request, built once per URL

    @property
    def origin(self) -> tuple[str, int, bool]:
        return (self.host, self.port, self.tls)


class DavTagProbe:
    """``await probe.tag(url)``: the collection's getctag (or its sync-token when it has none)."""

    def __init__(self, authorization: str, timeout: float, verify_tls: bool = True) -> None:
        self._authorization = authorization  # the whole header value, e.g. "Basic ..."
        self._timeout = timeout
        self._ssl: ssl.SSLContext | None = None
        self._verify_tls = verify_tls
        self._targets: dict[str, _Target] = {}
        self._addresses: dict[tuple[str, int], tuple[float, list[str]]] = {}  # (expiry, addresses)
        self._idle: dict[tuple[str, int, bool], list[Connection]] = {}

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ProbeFailed(f"not an http(s) URL: {url}")
            tls = parts.scheme == "https"
            port = parts.port or (443 if tls else 80)
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
            default = (tls and port == 443) or (not tls and port == 80)
            host_header = host if default else f"{host}:{port}"
            head = (
                f"PROPFIND {path} HTTP/1.1\r\nHost: {host_header}\r\nAuthorization: {self._authorization}\r\n"
                "Depth: 0\r\nContent-Type: application/xml; charset=utf-8\r\n"
                f"Content-Length: {len(_BODY)}\r\n\r\n"
            )
            target = _Target(parts.hostname, port, tls, head.encode("latin-1") + _BODY)
            self._targets[url] = target
        return target

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            context = ssl.create_default_context()
            if not self._verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._ssl = context
        return self._ssl

    async def tag(self, url: str) -> str:
        target = self._target(url)
        async with asyncio.timeout(self._timeout):
            idle = self._idle.get(target.origin)
            if idle:
                reader, writer = idle.pop()
                try:
                    status, body, keep = await self._exchange(reader, writer, target)
                except (OSError, asyncio.IncompleteReadError, ProbeFailed):
                    # A kept connection the server closed meanwhile: once more on a new one.
                    writer.close()
                    status, body, keep, reader, writer = await self._fresh(target)
                except BaseException:
                    # Anything else (a malformed status or length, the timeout): no second try,
                    # but the connection is still ours to close; dropped, it would stay open.
                    writer.close()
                    raise
            else:
                status, body, keep, reader, writer = await self._fresh(target)
        if keep and len(self._idle.setdefault(target.origin, [])) < _IDLE_PER_ORIGIN:
            self._idle[target.origin].append((reader, writer))
        else:
            writer.close()
        if status == 404:
            raise NoCollection(url)
        if status != 207:
            raise ProbeFailed(f"HTTP {status} from {url}")
        found: dict[bytes, bytes] = {name.lower(): value for name, value in _TAG_VALUE.findall(body)}
        tag = found.get(b"getctag") or found.get(b"sync-token")
        if not tag:
            raise ProbeFailed(f"no getctag or sync-token for {url}")
        return tag.decode("utf-8", "replace")

    async def _fresh(self, target: _Target) -> tuple[int, bytes, bool, _Reader, _Writer]:
        reader, writer = await self._connect(target)
        try:
            status, body, keep = await self._exchange(reader, writer, target)
        except BaseException:
            writer.close()
            raise
        return status, body, keep, reader, writer

    async def _connect(self, target: _Target) -> Connection:
        """A new connection. The host name is resolved once and kept for DNS_TTL (a resolution
        per read would be a thread hop and a DNS query each time); a failed connection forgets it."""
        key = (target.host, target.port)
        cached = self._addresses.get(key)
        now = time.monotonic()
        if cached is None or cached[0] < now:
            infos = await asyncio.get_running_loop().getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM
            )
            addresses = [str(info[4][0]) for info in infos]
            cached = self._addresses[key] = (now + DNS_TTL, addresses)
        tls = self._tls() if target.tls else None
        last: OSError | None = None
        for address in cached[1]:
            try:
                if tls is None:
                    return await _plain_connection(address, target.port)
                return await asyncio.open_connection(
                    address,
                    target.port,
                    ssl=tls,
                    server_hostname=target.host if tls is not None else None,
                    limit=_MAX_HEADER,
                )
            except OSError as error:
                last = error
        self._addresses.pop(key, None)
        raise last or OSError(f"no address for {target.host}")

    @staticmethod
    async def _exchange(reader: _Reader, writer: _Writer, target: _Target) -> tuple[int, bytes, bool]:
        writer.write(target.request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status_line = lines[0].split(None, 2)
        if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/"):
            raise ProbeFailed("not an HTTP reply")
        status = int(status_line[1])
        keep = status_line[0] == b"HTTP/1.1"
        length = -1
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                token = value.strip().lower()
                keep = token == b"keep-alive" or (keep and token != b"close")
        if chunked:
            body = await _read_chunked(reader)
        elif length >= 0:
            if length > _MAX_BODY:
                raise ProbeFailed("reply too large for a probe")
            body = await reader.readexactly(length)
        else:
            body = await _read_to_end(reader)  # delimited by the end of the connection
            keep = False
        return status, body, keep

    async def close(self) -> None:
        for connections in self._idle.values():
            for _reader, writer in connections:
                writer.close()
        self._idle.clear()


async def _plain_connection(address: str, port: int) -> Connection:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio's transports do
        await loop.sock_connect(sock, (address, port))
    except BaseException:
        sock.close()
        raise
    connection = _PlainConnection(sock, loop)
    return connection, connection


async def _read_to_end(reader: _Reader) -> bytes:
    """Up to the server's close (``read(n)`` alone returns the first packet only), at most
    _MAX_BODY: a server that never stops sending gets a ProbeFailed, not our memory."""
    parts: list[bytes] = []
    size = 0
    while part := await reader.read(_MAX_BODY - size + 1):
        size += len(part)
        if size > _MAX_BODY:
            raise ProbeFailed("reply too large for a probe")
        parts.append(part)
    return b"".join(parts)


async def _read_chunked(reader: _Reader) -> bytes:
    parts: list[bytes] = []
    size_total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailer fields, up to the empty line
            return b"".join(parts)
        size_total += size
        if size_total > _MAX_BODY:
            raise ProbeFailed("reply too large for a probe")
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
