"""Everything needed to talk to one Wazo stack, over one aiohttp session."""

from __future__ import annotations

from types import TracebackType

import aiohttp

from presence.sources.wazo.auth import TokenKeeper
from presence.sources.wazo.calld import CalldClient
from presence.sources.wazo.chatd import ChatdClient
from presence.sources.wazo.confd import ConfdClient
from presence.sources.wazo.config import WazoSettings
from presence.sources.wazo.events import EventSink, EventStream
from presence.sources.wazo.http import WazoHttp


class WazoClient:
    """Token keeper, REST clients and (when given a sink) the event stream.

    ``async with WazoClient(settings, sink) as wazo:`` obtains the service token (retrying until
    wazo-auth answers) and starts the event stream; leaving the block stops everything and
    closes the session if this object created it.
    """

    def __init__(
        self,
        settings: WazoSettings,
        sink: EventSink | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.settings = settings
        self._own_session = session is None
        self.session = session or aiohttp.ClientSession()
        self.http = WazoHttp(self.session, settings)
        self.tokens = TokenKeeper(self.http)
        self.confd = ConfdClient(self.http)
        self.calld = CalldClient(self.http)
        self.chatd = ChatdClient(self.http)
        self.events: EventStream | None = None
        if sink is not None:
            self.events = EventStream(self.session, settings, self.tokens, self.chatd, self.calld, sink)

    async def start(self) -> None:
        await self.tokens.start()
        if self.events is not None:
            self.events.start()

    async def close(self) -> None:
        if self.events is not None:
            await self.events.close()
        await self.tokens.close()
        await self.http.close()
        if self._own_session:
            await self.session.close()

    async def __aenter__(self) -> WazoClient:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
