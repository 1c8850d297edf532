"""The ctag probe's HTTP handling against a scripted HTTP/1.1 peer: what the built-in Radicale
server (HTTP/1.0, one request per connection) never exercises — connections kept alive and
reused, chunked bodies, a kept connection the server closed meanwhile, errors."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable

import pytest

from presence.sources.calendar.dav_probe import DavTagProbe, NoCollection, ProbeFailed
from tests.doctor.tls import self_signed, server_context

MULTISTATUS = (
    b'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">'
    b"<d:response><d:href>/c/</d:href><d:propstat><d:prop><cs:getctag>TAG-{n}</cs:getctag>"
    b"<d:sync-token>http://x/sync/{n}</d:sync-token></d:prop></d:propstat></d:response></d:multistatus>"
)

Reply = Callable[[int, bytes], bytes]  # (request number, request head) -> response bytes


def plain(n: int, _head: bytes) -> bytes:
    body = MULTISTATUS.replace(b"{n}", str(n).encode())
    return b"HTTP/1.1 207 Multi-Status\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def chunked(n: int, _head: bytes) -> bytes:
    body = MULTISTATUS.replace(b"{n}", str(n).encode())
    half = len(body) // 2
    return (
        b"HTTP/1.1 207 Multi-Status\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half, body[half:])
    )


class Peer:
    def __init__(self, reply: Reply, close_after: int = 0) -> None:
        self.reply = reply
        self.close_after = close_after  # close each connection after this many replies (0: never)
        self.connections = 0
        self.closed_by_client = 0  # connections the probe closed (the peer read its end)
        self.requests: list[bytes] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    self.closed_by_client += 1
                    raise
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                self.requests.append(head)
                writer.write(self.reply(len(self.requests), head))
                await writer.drain()
                served += 1
                if self.close_after and served >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., object]]:
    servers: list[asyncio.Server] = []

    async def start(reply: Reply, close_after: int = 0, tls: ssl.SSLContext | None = None) -> Peer:
        peer = Peer(reply, close_after)
        server = await asyncio.start_server(peer.handle, "127.0.0.1", 0, ssl=tls)
        peer.port = server.sockets[0].getsockname()[1]
        servers.append(server)
        return peer

    yield start
    for server in servers:
        server.close()


async def test_a_kept_alive_connection_is_reused_and_chunked_bodies_are_read(serve) -> None:  # type: ignore[no-untyped-def]
    peer = await serve(lambda n, h: plain(n, h) if n % 2 else chunked(n, h))
    probe = DavTagProbe("Basic c2VydmljZTpwdw==", timeout=5)
    try:
        url = f"http://127.0.0.1:{peer.port}/alice/work/"
        assert [await probe.tag(url) for _ in range(4)] == ["TAG-1", "TAG-2", "TAG-3", "TAG-4"]
        assert peer.connections == 1
        first = peer.requests[0].decode()
        assert first.startswith("PROPFIND /alice/work/ HTTP/1.1\r\n")
        assert f"Host: 127.0.0.1:{peer.port}\r\n" in first
        assert "Authorization: Basic c2VydmljZTpwdw==\r\n" in first
        assert "Depth: 0\r\n" in first
    finally:
        await probe.close()


async def test_a_connection_the_server_closed_is_replaced_without_an_error(serve) -> None:  # type: ignore[no-untyped-def]
    peer = await serve(plain, close_after=1)
    probe = DavTagProbe("Basic eA==", timeout=5)
    try:
        url = f"http://127.0.0.1:{peer.port}/c/"
        assert await probe.tag(url) == "TAG-1"
        await asyncio.sleep(0.05)  # the server has closed the connection the probe kept
        assert await probe.tag(url) == "TAG-2"
        assert peer.connections == 2
    finally:
        await probe.close()


async def test_http_1_0_and_connection_close_are_not_kept(serve) -> None:  # type: ignore[no-untyped-def]
    def old(n: int, head: bytes) -> bytes:
        return (
            plain(n, head)
            .replace(b"HTTP/1.1 207", b"HTTP/1.0 207" if n == 1 else b"HTTP/1.1 207", 1)
            .replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n" if n == 2 else b"\r\n\r\n", 1)
        )

    peer = await serve(old)
    probe = DavTagProbe("Basic eA==", timeout=5)
    try:
        url = f"http://127.0.0.1:{peer.port}/c/"
        assert [await probe.tag(url) for _ in range(3)] == ["TAG-1", "TAG-2", "TAG-3"]
        assert peer.connections == 3
    finally:
        await probe.close()


async def test_errors_are_named(serve) -> None:  # type: ignore[no-untyped-def]
    replies = {
        1: b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        2: b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
        3: b"HTTP/1.1 207 Multi-Status\r\nContent-Length: 2\r\n\r\nno",
    }
    peer = await serve(lambda n, _h: replies[n])
    probe = DavTagProbe("Basic eA==", timeout=5)
    try:
        url = f"http://127.0.0.1:{peer.port}/c/"
        with pytest.raises(NoCollection):
            await probe.tag(url)
        with pytest.raises(ProbeFailed, match="HTTP 401"):
            await probe.tag(url)
        with pytest.raises(ProbeFailed, match="no getctag or sync-token"):
            await probe.tag(url)
    finally:
        await probe.close()


@pytest.mark.parametrize(
    "second",
    [
        b"HTTP/1.1 2x7 Multi-Status\r\nContent-Length: 0\r\n\r\n",  # a status that is no number
        b"HTTP/1.1 207 Multi-Status\r\nContent-Length: many\r\n\r\n",  # a length that is none
    ],
)
async def test_a_kept_connection_that_fails_otherwise_is_closed_not_leaked(serve, second) -> None:  # type: ignore[no-untyped-def]
    """A malformed reply on a kept connection is not one the server closed meanwhile (no second
    try), but the connection is still ours: it is closed, not dropped open (a socket per error,
    every minute, for each calendar on such a server). The probe fails (the calendar is read
    instead), it does not raise something its caller does not expect."""
    peer = await serve(lambda n, h: plain(n, h) if n == 1 else second)
    probe = DavTagProbe("Basic eA==", timeout=5)
    try:
        url = f"http://127.0.0.1:{peer.port}/c/"
        assert await probe.tag(url) == "TAG-1"
        # Held, as a caller logging it would: a close left to the garbage collector would not come.
        with pytest.raises(ProbeFailed, match=r"not an HTTP reply|not a number") as failed:
            await probe.tag(url)
        for _ in range(100):
            if peer.closed_by_client:
                break
            await asyncio.sleep(0.01)
        assert (peer.connections, peer.closed_by_client) == (1, 1), failed.value
    finally:
        await probe.close()


async def test_the_server_name_is_resolved_once_not_at_every_read(serve, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import socket

    peer = await serve(plain, close_after=1)  # a new connection for every read
    lookups: list[object] = []
    real = socket.getaddrinfo

    def counting(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        lookups.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    probe = DavTagProbe("Basic eA==", timeout=5)
    try:
        url = f"http://localhost:{peer.port}/c/"  # the peer listens on 127.0.0.1 only
        assert [await probe.tag(url) for _ in range(3)] == ["TAG-1", "TAG-2", "TAG-3"]
        assert peer.connections == 3
        assert lookups.count("localhost") == 1
    finally:
        await probe.close()


async def test_https_with_and_without_certificate_verification(serve, tmp_path) -> None:  # type: ignore[no-untyped-def]
    peer = await serve(plain, tls=server_context(*self_signed(tmp_path, "dav")))
    url = f"https://localhost:{peer.port}/c/"
    unverified = DavTagProbe("Basic eA==", timeout=5, verify_tls=False)
    verified = DavTagProbe("Basic eA==", timeout=5)
    try:
        assert await unverified.tag(url) == "TAG-1"
        assert await unverified.tag(url) == "TAG-2"  # kept alive over TLS too
        assert peer.connections == 1
        with pytest.raises(ssl.SSLCertVerificationError):  # self-signed: refused by default
            await verified.tag(url)
    finally:
        await unverified.close()
        await verified.close()


async def test_a_body_ended_by_the_connection_is_read_to_its_end() -> None:
    """No Content-Length, no chunks (HTTP/1.0, or a proxy): the body is whatever comes until the
    server closes, however many packets it takes."""
    body = MULTISTATUS.replace(b"{n}", b"1")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 207 Multi-Status\r\nContent-Type: application/xml\r\n\r\n")
        for start in range(0, len(body), 40):  # a slow server: the body in several packets
            writer.write(body[start : start + 40])
            await writer.drain()
            await asyncio.sleep(0.02)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    probe = DavTagProbe("Basic eA==", timeout=5)
    try:
        assert await probe.tag(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/c/") == "TAG-1"
    finally:
        await probe.close()
        server.close()


async def test_a_body_without_end_is_refused_at_the_size_limit() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 207 Multi-Status\r\n\r\n")
        try:
            while True:  # never ends
                writer.write(b"<d:x>" + b"y" * 65536)
                await writer.drain()
        except ConnectionError:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    probe = DavTagProbe("Basic eA==", timeout=5)
    try:
        with pytest.raises(ProbeFailed, match="too large"):
            await probe.tag(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/c/")
    finally:
        await probe.close()
        server.close()


async def test_a_calendar_without_a_usable_tag_is_read_at_every_round(serve) -> None:  # type: ignore[no-untyped-def]
    """A server without getctag and sync-token, or one that redirects the probe: the probe gives
    no tag, and the watcher reads the calendar as before the probe existed (not never)."""
    from presence.sources.calendar.caldav_reader import CtagProbe, Delta
    from presence.sources.calendar.watcher import CalendarUser, CalendarWatcher

    untagged = b"<d:multistatus xmlns:d='DAV:'><d:response><d:href>/c/</d:href></d:response></d:multistatus>"
    replies = [
        b"HTTP/1.1 207 Multi-Status\r\nContent-Length: %d\r\n\r\n%s" % (len(untagged), untagged),
        b"HTTP/1.1 301 Moved Permanently\r\nLocation: /c2/\r\nContent-Length: 0\r\n\r\n",
    ]
    peer = await serve(lambda n, _h: replies[(n - 1) % 2])
    probe = CtagProbe("service", "pw", timeout=5)
    reads: list[str | None] = []

    def read(_url: str, token: str | None) -> Delta:
        reads.append(token)
        return Delta(f"token-{len(reads)}", full=token is None)

    watcher = CalendarWatcher(read, lambda _k, _f: None, 60, probe=probe.ctag)
    watcher.set_users([CalendarUser("bob", f"http://127.0.0.1:{peer.port}/c/", frozenset())])
    try:
        for _ in range(3):
            await watcher.poll_user("bob")
        assert reads == [None, "token-1", "token-2"]
    finally:
        await probe.close()
