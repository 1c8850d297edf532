"""The small HTTP/1.1 client against a scripted peer on 127.0.0.1: replies without a body, kept
connections the server closed (idle, or as the request arrived), and what a POST must never do
(be sent twice). The calendar probe's own tests cover chunked bodies, HTTP/1.0, TLS and limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from presence.sources.http1 import Http1Client, Origin, ReplyError, request_bytes

# What the peer does with request n (1-based) on a connection: reply bytes, or None to close
# the connection after reading the request, without a reply.
Script = Callable[[int], bytes | None]


class Peer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[bytes] = []  # every request read, in order, over every connection
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                reply = self.script(len(self.requests))
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.fixture
async def peer_for() -> AsyncIterator[Callable[[Script], object]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> tuple[Peer, Origin]:
        peer = Peer(script)
        server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
        servers.append(server)
        return peer, Origin("127.0.0.1", server.sockets[0].getsockname()[1], tls=False)

    yield start
    for server in servers:
        server.close()


def ok(body: bytes = b'{"ok": true}') -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )


async def test_a_204_has_no_body_and_its_connection_is_reused(peer_for) -> None:  # type: ignore[no-untyped-def]
    peer, origin = await peer_for(lambda n: b"HTTP/1.1 204 No Content\r\n\r\n" if n == 1 else ok())
    client = Http1Client(max_body=1024)
    try:
        deleted = await asyncio.wait_for(
            client.send(origin, request_bytes("DELETE", origin, "/calls/1", ()), idempotent=True), 5
        )
        assert (deleted.status, deleted.reason, deleted.body) == (204, "No Content", b"")
        listed = await client.send(origin, request_bytes("GET", origin, "/calls", ()), idempotent=True)
        assert (listed.status, listed.body) == (200, b'{"ok": true}')
        assert peer.connections == 1
        assert peer.requests[0].startswith(b"DELETE /calls/1 HTTP/1.1\r\nHost: 127.0.0.1:")
    finally:
        await client.close()


async def test_a_connection_closed_while_idle_is_not_used(peer_for) -> None:  # type: ignore[no-untyped-def]
    peer, origin = await peer_for(lambda _n: ok())
    client = Http1Client(max_body=1024)
    post = request_bytes("POST", origin, "/calls", [("Content-Type", "application/json")], b"{}")
    try:
        await client.send(origin, post, idempotent=False)
        peer.writers[0].close()  # the server ends the kept connection (its idle timeout)
        await asyncio.sleep(0.05)
        reply = await client.send(origin, post, idempotent=False)
        assert reply.status == 200
        assert (peer.connections, len(peer.requests)) == (2, 2)
    finally:
        await client.close()


async def test_a_post_the_server_dropped_unanswered_is_not_sent_again(peer_for) -> None:  # type: ignore[no-untyped-def]
    """The server read the POST and closed without a word: it may have acted on it (a call
    placed). Sending it again could ring a phone twice; the caller gets the error instead."""
    peer, origin = await peer_for(lambda n: ok() if n == 1 else None)
    client = Http1Client(max_body=1024)
    post = request_bytes("POST", origin, "/calls", [("Content-Type", "application/json")], b"{}")
    try:
        await client.send(origin, post, idempotent=False)
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            await client.send(origin, post, idempotent=False)
        await asyncio.sleep(0.05)
        assert len(peer.requests) == 2
    finally:
        await client.close()


async def test_a_get_the_server_dropped_unanswered_is_sent_once_more(peer_for) -> None:  # type: ignore[no-untyped-def]
    peer, origin = await peer_for(lambda n: None if n == 2 else ok(b"%d" % n))
    client = Http1Client(max_body=1024)
    get = request_bytes("GET", origin, "/users", ())
    try:
        assert (await client.send(origin, get, idempotent=True)).body == b"1"
        assert (await client.send(origin, get, idempotent=True)).body == b"3"
        assert (peer.connections, len(peer.requests)) == (2, 3)
    finally:
        await client.close()


async def test_a_reply_that_is_not_http_is_a_reply_error_and_its_connection_is_closed(peer_for) -> None:  # type: ignore[no-untyped-def]
    peer, origin = await peer_for(lambda _n: b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    client = Http1Client(max_body=1024)
    try:
        with pytest.raises(ReplyError, match="not an HTTP reply"):
            await client.send(origin, request_bytes("GET", origin, "/", ()), idempotent=True)
        with pytest.raises(ReplyError):
            await client.send(origin, request_bytes("GET", origin, "/", ()), idempotent=True)
        assert peer.connections == 2  # the first connection was not kept
    finally:
        await client.close()


async def test_a_body_over_the_limit_is_refused(peer_for) -> None:  # type: ignore[no-untyped-def]
    _peer, origin = await peer_for(lambda _n: ok(b"x" * 2048))
    client = Http1Client(max_body=1024)
    try:
        with pytest.raises(ReplyError, match="too large"):
            await client.send(origin, request_bytes("GET", origin, "/", ()), idempotent=True)
    finally:
        await client.close()


async def test_a_large_body_arrives_whole(peer_for) -> None:  # type: ignore[no-untyped-def]
    body = bytes(range(256)) * 40_000  # ~10 MB: many reads
    _peer, origin = await peer_for(lambda _n: ok(body))
    client = Http1Client(max_body=len(body))
    try:
        reply = await client.send(origin, request_bytes("GET", origin, "/users", ()), idempotent=True)
        assert reply.body == body
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/users", [("X-Auth-Token", "abc\r\nX-Evil: 1")]),
        ("/users", [("Wazo-Tenant", "t\n")]),
        ("/users HTTP/1.1\r\nX-Evil: 1\r\n\r\nGET /", []),
    ],
)
def test_a_line_break_cannot_add_headers(target: str, headers: list[tuple[str, str]]) -> None:
    origin = Origin("wazo.example.org", 443, tls=True)
    with pytest.raises(ValueError, match="line break"):
        request_bytes("GET", origin, target, headers)


def test_the_host_header_names_the_port_only_when_it_is_not_the_default() -> None:
    assert Origin("wazo.example.org", 443, tls=True).host_header == "wazo.example.org"
    assert Origin("wazo.example.org", 80, tls=True).host_header == "wazo.example.org:80"
    assert Origin("::1", 9497, tls=False).host_header == "[::1]:9497"


async def test_requests_beyond_the_connection_limit_wait_their_turn() -> None:
    in_flight = 0
    most = 0
    connections = 0

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal in_flight, most, connections
        connections += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                in_flight += 1
                most = max(most, in_flight)
                await asyncio.sleep(0.02)
                in_flight -= 1
                writer.write(ok())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(slow, "127.0.0.1", 0)
    origin = Origin("127.0.0.1", server.sockets[0].getsockname()[1], tls=False)
    client = Http1Client(max_body=1024, max_connections=2)
    try:
        get = request_bytes("GET", origin, "/", ())
        replies = await asyncio.gather(*(client.send(origin, get, idempotent=True) for _ in range(6)))
        assert [reply.status for reply in replies] == [200] * 6
        assert (most, connections) == (2, 2)
    finally:
        await client.close()
        server.close()
