"""A small HTTP/1.1 client for the requests the component makes often: the calendar probe (a
PROPFIND per calendar per minute) and the Wazo REST calls (an origination per click-to-call).

Why not aiohttp for these: a general client's per-request machinery (request and response
objects, header multidicts, cookie jar, tracing hooks, a task per request) costs more than the
rest of a click-to-call. 3,000 JSON POSTs in a loop against a local aiohttp server, CPU of the
client process per request: aiohttp 380-395 µs, this path 175-190 µs. aiohttp stays for what
needs more (the event websocket, streamed recordings, the HTTP listener).

What it does: one request at a time per connection; connections kept alive per origin (up to
``idle_per_origin`` idle ones) when the server allows it (HTTP/1.1 without ``Connection: close``,
or HTTP/1.0 with ``keep-alive``); bodies by Content-Length, chunked, or to the server's close;
no body for 1xx, 204 and 304. Plain HTTP goes on the bare non-blocking socket (``loop.sock_*``):
asyncio's transport, protocol and stream objects per connection were most of what a request to
a server that closes every connection (Radicale) cost. TLS goes on asyncio streams. Host names
are resolved once per ``dns_ttl``.

What it does not do, because nothing here needs it: redirects (a 3xx is a reply like any other),
proxies, cookies, compression, ``Expect: 100-continue``, pipelining.

A kept connection is checked before it is reused (a closed one is dropped). If it fails anyway
before any byte of the reply arrived (the server closed it at that moment), an idempotent request
is sent once more on a new connection; a POST is not: it may have been received.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

_MAX_HEAD = 64 * 1024
_RECV = 256 * 1024
DNS_TTL = 300.0  # s: how long a resolved server address is used before resolving again


class ReplyError(Exception):
    """The server's answer is not an HTTP/1.x reply we can read, or is larger than allowed."""


@dataclass(frozen=True, slots=True)
class Origin:
    host: str  # as in the URL, without brackets for IPv6
    port: int
    tls: bool

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = self.port == (443 if self.tls else 80)
        return host if default else f"{host}:{self.port}"


def split_url(url: str) -> tuple[Origin, str]:
    """(origin, request target) of an http(s) URL; ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url}")
    tls = parts.scheme == "https"
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Origin(parts.hostname, parts.port or (443 if tls else 80), tls), target


def request_bytes(
    method: str, origin: Origin, target: str, headers: Iterable[tuple[str, str]], body: bytes = b""
) -> bytes:
    """The whole request. A line break in a header or the target would let a value (a token, a
    tenant from the configuration) add headers of its own: ValueError instead."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.host_header}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    for line in lines:
        if "\n" in line or "\r" in line:
            raise ValueError("a line break in a request header or target")
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    reason: str
    body: bytes


class _Connection(Protocol):
    def alive(self) -> bool: ...

    async def readuntil(self, separator: bytes) -> bytes: ...

    async def readexactly(self, n: int) -> bytes: ...

    async def read(self, n: int) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


class _PlainConnection:
    """A plain connection read and written with ``loop.sock_*``: the few calls of a stream a
    request makes, without a transport and a protocol behind them. Errors are the streams' own
    (``IncompleteReadError`` at an early end, ``LimitOverrunError`` for a head too large)."""

    __slots__ = ("_buffer", "_loop", "_sock", "_unsent")

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self._sock = sock
        self._loop = loop
        self._buffer = bytearray()
        self._unsent = b""

    def alive(self) -> bool:
        """Idle and still open: nothing to read (a closed connection reads as b"")."""
        if self._buffer:
            return False  # bytes nobody asked for: not a connection to send a request on
        try:
            self._sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        return False

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

    async def _fill(self, wanted: int = 0) -> bool:
        """Read what the server sent; False at the end of the connection."""
        data = await self._loop.sock_recv(self._sock, max(_RECV, wanted))
        self._buffer += data
        return bool(data)

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        start = 0
        while (found := self._buffer.find(separator, start)) < 0:
            if len(self._buffer) > _MAX_HEAD:
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
            # A large body in large reads: 4 MiB at most at once, to bound the buffer's peak.
            if not await self._fill(min(n - len(self._buffer), 4 * 1024 * 1024)):
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


class _StreamConnection:
    """A TLS connection on asyncio streams, with the same calls as :class:`_PlainConnection`."""

    __slots__ = ("_reader", "_writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    def alive(self) -> bool:
        return not self._reader.at_eof() and not self._writer.is_closing()

    async def readuntil(self, separator: bytes) -> bytes:
        return await self._reader.readuntil(separator)

    async def readexactly(self, n: int) -> bytes:
        return await self._reader.readexactly(n)

    async def read(self, n: int) -> bytes:
        return await self._reader.read(n)

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    async def drain(self) -> None:
        await self._writer.drain()

    def close(self) -> None:
        self._writer.close()


class _Unanswered(Exception):
    """The connection failed before the first byte of the reply (``cause``)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Http1Client:
    """``await client.send(origin, request_bytes(...), idempotent=...)`` → :class:`Reply`.

    At most ``max_connections`` requests are in flight at once (the others wait their turn), and
    up to ``idle_per_origin`` connections are kept per origin for the next requests.

    Time limits are the caller's (``asyncio.timeout`` around the call); a connection interrupted
    by one is closed, never reused. Failures: ``OSError`` (connecting, sending, TLS, including
    ``ssl.SSLCertVerificationError``), ``asyncio.IncompleteReadError`` (closed mid-reply),
    :class:`ReplyError` (not a readable reply, or a body over ``max_body``).
    """

    def __init__(
        self,
        tls: ssl.SSLContext | bool = True,
        *,
        max_body: int,
        max_connections: int = 100,
        idle_per_origin: int = 8,
        dns_ttl: float = DNS_TTL,
    ) -> None:
        self._tls_setting = tls  # a context, or verify (True) / do not verify (False)
        # Requests in flight at once, over every origin (as aiohttp's connector limit): a burst
        # waits its turn instead of opening a connection per request.
        self._turns = asyncio.Semaphore(max_connections)
        self._tls: ssl.SSLContext | None = tls if isinstance(tls, ssl.SSLContext) else None
        self._max_body = max_body
        self._idle_per_origin = idle_per_origin
        self._dns_ttl = dns_ttl
        self._addresses: dict[tuple[str, int], tuple[float, list[str]]] = {}  # (expiry, addresses)
        self._idle: dict[Origin, list[_Connection]] = {}

    async def send(self, origin: Origin, request: bytes, *, idempotent: bool) -> Reply:
        async with self._turns:
            return await self._send(origin, request, idempotent)

    async def _send(self, origin: Origin, request: bytes, idempotent: bool) -> Reply:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.alive():
                connection.close()
                continue
            try:
                reply, keep = await self._exchange(connection, request)
            except _Unanswered as unanswered:
                connection.close()
                if not idempotent:
                    raise unanswered.cause from None
                break  # the server closed it as we sent: once more on a new connection
            except BaseException:
                # Anything else (a malformed reply, the caller's time limit): the connection is
                # in an unknown state, and still ours to close; dropped, it would stay open.
                connection.close()
                raise
            self._release(origin, connection, keep)
            return reply
        connection = await self._connect(origin)
        try:
            reply, keep = await self._exchange(connection, request)
        except _Unanswered as unanswered:
            connection.close()
            raise unanswered.cause from None
        except BaseException:
            connection.close()
            raise
        self._release(origin, connection, keep)
        return reply

    def _release(self, origin: Origin, connection: _Connection, keep: bool) -> None:
        idle = self._idle.setdefault(origin, [])
        if keep and len(idle) < self._idle_per_origin:
            idle.append(connection)
        else:
            connection.close()

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            # Built on first use: loading the system's CAs costs ~25 ms.
            context = ssl.create_default_context()
            if not self._tls_setting:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._tls = context
        return self._tls

    async def _connect(self, origin: Origin) -> _Connection:
        """A new connection. The host name is resolved once and kept for ``dns_ttl`` (a
        resolution per connection would be a thread hop and a DNS query each time); a failed
        connection forgets it."""
        key = (origin.host, origin.port)
        cached = self._addresses.get(key)
        now = time.monotonic()
        if cached is None or cached[0] < now:
            infos = await asyncio.get_running_loop().getaddrinfo(
                origin.host, origin.port, type=socket.SOCK_STREAM
            )
            addresses = [str(info[4][0]) for info in infos]
            cached = self._addresses[key] = (now + self._dns_ttl, addresses)
        last: OSError | None = None
        for address in cached[1]:
            try:
                if not origin.tls:
                    return await _plain_connection(address, origin.port)
                reader, writer = await asyncio.open_connection(
                    address, origin.port, ssl=self._context(), server_hostname=origin.host, limit=_MAX_HEAD
                )
                return _StreamConnection(reader, writer)
            except ssl.SSLCertVerificationError:
                self._addresses.pop(key, None)
                raise  # the next address would present the same certificate
            except OSError as error:
                last = error
        self._addresses.pop(key, None)
        raise last or OSError(f"no address for {origin.host}")

    async def _exchange(self, connection: _Connection, request: bytes) -> tuple[Reply, bool]:
        try:
            connection.write(request)
            await connection.drain()
            head = await connection.readuntil(b"\r\n\r\n")
            while True:
                status, reason, length, chunked, keep = _parse_head(head)
                if not 100 <= status < 200 or status == 101:
                    break
                head = await connection.readuntil(b"\r\n\r\n")  # an interim reply: the real one follows
        except asyncio.IncompleteReadError as error:
            if error.partial:
                raise
            raise _Unanswered(error) from error
        except asyncio.LimitOverrunError:
            raise ReplyError(f"reply head too large: over {_MAX_HEAD} bytes") from None
        except OSError as error:
            raise _Unanswered(error) from error
        if 100 <= status < 200 or status in (204, 304):
            body = b""
        elif chunked:
            body = await _read_chunked(connection, self._max_body)
        elif length >= 0:
            if length > self._max_body:
                raise ReplyError(f"reply too large: {length} bytes, the limit is {self._max_body}")
            body = await connection.readexactly(length)
        else:
            body = await _read_to_end(connection, self._max_body)  # delimited by the server's close
            keep = False
        return Reply(status, reason, body), keep

    async def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()


def _parse_head(head: bytes) -> tuple[int, str, int, bool, bool]:
    """(status, reason, content length or -1, chunked, keep-alive) of a reply's head."""
    lines = head.split(b"\r\n")
    status_line = lines[0].split(None, 2)
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/") or not status_line[1].isdigit():
        raise ReplyError(f"not an HTTP reply: {lines[0][:80]!r}")
    status = int(status_line[1])
    reason = status_line[2].decode("latin-1") if len(status_line) > 2 else ""
    keep = status_line[0] == b"HTTP/1.1"
    length = -1
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            value = value.strip()
            if not value.isdigit():
                raise ReplyError(f"Content-Length is not a number: {value[:40]!r}")
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            token = value.strip().lower()
            keep = token == b"keep-alive" or (keep and token != b"close")
    return status, reason, length, chunked, keep


async def _plain_connection(address: str, port: int) -> _PlainConnection:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio's transports do
        await loop.sock_connect(sock, (address, port))
    except BaseException:
        sock.close()
        raise
    return _PlainConnection(sock, loop)


async def _read_to_end(connection: _Connection, limit: int) -> bytes:
    """Up to the server's close (``read(n)`` alone returns the first packet only), at most
    ``limit``: a server that never stops sending gets a ReplyError, not our memory."""
    parts: list[bytes] = []
    size = 0
    while part := await connection.read(limit - size + 1):
        size += len(part)
        if size > limit:
            raise ReplyError(f"reply too large: over the limit of {limit} bytes")
        parts.append(part)
    return b"".join(parts)


async def _read_chunked(connection: _Connection, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_line = await connection.readuntil(b"\r\n")
        size_text = size_line.split(b";", 1)[0].strip() or b"0"
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ReplyError(f"a chunk size that is not hexadecimal: {size_text[:20]!r}") from None
        if size < 0:
            raise ReplyError(f"a negative chunk size: {size_text[:20]!r}")
        if size == 0:
            while await connection.readuntil(b"\r\n") != b"\r\n":
                pass  # trailer fields, up to the empty line
            return b"".join(parts)
        total += size
        if total > limit:
            raise ReplyError(f"reply too large: over the limit of {limit} bytes")
        parts.append(await connection.readexactly(size))
        await connection.readexactly(2)
