"""The links' listener streams: the first bytes of a recording reach the listener's client while
calld is still sending the rest (nothing waits for the whole file). Real HTTP on both sides: a
slow upstream standing in for calld's recording route, the listener, an aiohttp client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from devservers.net import free_port
from presence.sources.wazo.calld import VoicemailMessage
from presence.voicemail_links import LinkSigner
from xmpp_component.config import HttpSection
from xmpp_component.voicemail_http import CHUNK, VoicemailHttpServer

OWNER = "11111111-1111-4111-8111-111111111111"
FIRST = b"RIFF" + b"\x01" * (2 * CHUNK)
REST = b"\x02" * (3 * CHUNK)


class SlowRecording:
    """An upstream that sends the first part, then waits until told to send the rest."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.finished = False

    async def handler(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "audio/wav"})
        response.content_length = len(FIRST) + len(REST)
        await response.prepare(request)
        await response.write(FIRST)
        await self.release.wait()
        await response.write(REST)
        await response.write_eof()
        self.finished = True
        return response


class Calld:
    """calld as the listener uses it: the owner's mailbox, and the recording's open response."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self._url = url

    async def user_voicemail_messages(self, user_uuid: str) -> list[VoicemailMessage]:
        mine = VoicemailMessage("1-1", "1002", "Bob", 8, 1_700_000_000, "new", voicemail_id=101)
        return [mine] if user_uuid == OWNER else []

    @contextlib.asynccontextmanager
    async def voicemail_recording(self, voicemail_id: int, message_id: str) -> AsyncIterator[Any]:
        assert (voicemail_id, message_id) == (101, "1-1")
        async with self._session.get(self._url) as response:
            yield response


async def test_the_first_bytes_arrive_before_calld_has_sent_the_rest() -> None:
    slow = SlowRecording()
    upstream = web.Application()
    upstream.router.add_get("/recording", slow.handler)
    runner = web.AppRunner(upstream)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    upstream_url = f"http://127.0.0.1:{runner.addresses[0][1]}/recording"
    async with aiohttp.ClientSession() as session:
        wazo = type("Wazo", (), {"calld": Calld(session, upstream_url)})()
        port = free_port()
        settings = HttpSection(enabled=True, port=port, public_base_url=f"http://127.0.0.1:{port}")
        server = VoicemailHttpServer(settings, LinkSigner(b"k" * 32, 600), lambda: wazo)  # type: ignore[arg-type, return-value]
        await server.start()
        try:
            async with session.get(server.link("1-1", OWNER)) as response:
                assert (response.status, response.content_type) == (200, "audio/wav")
                assert response.content_length == len(FIRST) + len(REST)
                head = await asyncio.wait_for(response.content.readexactly(len(FIRST)), 10)
                assert head == FIRST
                assert not slow.finished  # calld has not sent the rest: the listener passed on what it had
                slow.release.set()
                assert await response.content.read() == REST
            assert slow.finished
        finally:
            slow.release.set()
            await server.stop()
            await runner.cleanup()


class EndlessRecording:
    """An upstream that keeps sending (a long recording) for as long as its reader takes it."""

    async def handler(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "audio/wav"})
        await response.prepare(request)
        while True:
            await response.write(b"\x03" * CHUNK)


async def test_stopping_does_not_wait_for_a_client_that_stopped_reading() -> None:
    # A paused player keeps its connection open and reads nothing: the listener's write waits.
    # The component's stop must not wait for it (aiohttp's default: a minute, past the service
    # manager's stop timeout, and the store and the active lock stay held all along).
    endless = EndlessRecording()
    upstream = web.Application()
    upstream.router.add_get("/recording", endless.handler)
    runner = web.AppRunner(upstream, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    upstream_url = f"http://127.0.0.1:{runner.addresses[0][1]}/recording"
    async with aiohttp.ClientSession() as session, aiohttp.ClientSession() as player:
        wazo = type("Wazo", (), {"calld": Calld(session, upstream_url)})()
        port = free_port()
        settings = HttpSection(enabled=True, port=port, public_base_url=f"http://127.0.0.1:{port}")
        server = VoicemailHttpServer(settings, LinkSigner(b"k" * 32, 600), lambda: wazo)  # type: ignore[arg-type, return-value]
        await server.start()
        try:
            async with player.get(server.link("1-1", OWNER)) as response:
                assert response.status == 200
                await asyncio.sleep(1.0)  # the buffers between fill up; the listener's write waits
                await asyncio.wait_for(server.stop(), 15)
        finally:
            await server.stop()
            await runner.cleanup()
