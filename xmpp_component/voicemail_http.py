"""The HTTP listener of the voicemail "listen" links (``[http]``): checks the signed link, then
streams the recording from wazo-calld to the client chunk by chunk, never holding it whole.

A separate listener from the ops endpoint: this one faces users' devices (through a reverse proxy
doing TLS), the ops one stays on a management address. Anything wrong with a link (tampered,
expired, another user's message, a message no longer there) is one answer: 403 with an empty
body, so a link reveals nothing about the messages it does not grant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import aiohttp
from aiohttp import web

from presence.sources.wazo.calld import VoicemailMessage
from presence.sources.wazo.client import WazoClient
from presence.sources.wazo.errors import WazoError
from presence.voicemail_links import PATH_PREFIX, LinkSigner
from xmpp_component.config import HttpSection

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
DEFAULT_AUDIO_TYPE = "audio/wav"  # calld's recordings (its spec: produces audio/wav)
# At stop, how long a download still running may take before it is cut. aiohttp's default is a
# minute: a paused player that reads nothing would hold the component's stop past the service
# manager's stop timeout, with the store and the pair's active lock held all along.
STOP_GRACE = 1.0


def _forbidden() -> web.Response:
    return web.Response(status=403, body=b"")


class VoicemailHttpServer:
    """aiohttp server for the recording links; a port already taken is logged, the component runs on."""

    def __init__(
        self, settings: HttpSection, signer: LinkSigner, wazo: Callable[[], WazoClient | None]
    ) -> None:
        self.settings = settings
        self.signer = signer
        self._wazo = wazo
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    def link(self, message_id: str, owner_uuid: str) -> str:
        """The public "listen" URL of one message, for its owner's notice and commands."""
        return self.signer.url(self.settings.public_base_url, message_id, owner_uuid)

    async def start(self) -> None:
        web_app = web.Application()
        web_app.router.add_get(PATH_PREFIX + "{name}", self._recording)
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=STOP_GRACE)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.settings.bind, self.settings.port).start()
        except OSError as error:
            await runner.cleanup()
            log.error(
                "http.port: cannot listen on %s:%d (%s); voicemail links will not open",
                self.settings.bind,
                self.settings.port,
                error.strerror or error,
            )
            return
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info("voicemail links served on http://%s:%d%s", self.settings.bind, self.port, PATH_PREFIX)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _owned_message(self, wazo: WazoClient, owner: str, message_id: str) -> VoicemailMessage | None:
        """The message, if it is in the owner's own mailbox now (read from calld at each fetch)."""
        for message in await wazo.calld.user_voicemail_messages(owner):
            if message.message_id == message_id and message.personal and message.voicemail_id is not None:
                return message
        return None

    async def _recording(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        query = request.query
        claim = None
        if name.endswith(".wav"):
            claim = self.signer.verify(name[:-4], query.get("u", ""), query.get("e", ""), query.get("s", ""))
        if claim is None:
            log.info("voicemail link refused: not an authentic, unexpired link")
            return _forbidden()
        wazo = self._wazo()
        if wazo is None:
            return web.Response(status=503, text="The phone system is not reachable now; try again later.\n")
        try:
            message = await self._owned_message(wazo, claim.owner_uuid, claim.message_id)
            if message is None or message.voicemail_id is None:
                log.info("voicemail link refused: the message is not in its owner's mailbox")
                return _forbidden()
            async with wazo.calld.voicemail_recording(message.voicemail_id, message.message_id) as upstream:
                content_type = upstream.headers.get("Content-Type", "").split(";")[0].strip()
                if not content_type.startswith("audio/"):
                    content_type = DEFAULT_AUDIO_TYPE
                response = web.StreamResponse(
                    headers={
                        "Content-Type": content_type,
                        "Cache-Control": "private, no-store",
                        "Content-Disposition": f'inline; filename="voicemail-{message.message_id}.wav"',
                    }
                )
                if upstream.content_length is not None:
                    response.content_length = upstream.content_length
                await response.prepare(request)
                if request.method != "HEAD":
                    try:
                        async for chunk in upstream.content.iter_chunked(CHUNK):
                            await response.write(chunk)
                    except (aiohttp.ClientError, TimeoutError) as error:
                        # Too late for a status: the client sees a short body and may retry.
                        log.warning("voicemail recording cut off while streaming: %s", type(error).__name__)
                        return response
                await response.write_eof()
                return response
        except WazoError as error:
            log.warning("voicemail recording could not be read from Wazo: %s", error)
            return web.Response(status=502, text="The recording cannot be read now; try again later.\n")
