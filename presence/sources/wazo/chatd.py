"""wazo-chatd presences (reference wazo-api.md §5)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from urllib.parse import quote

from presence.model import PhoneState, WazoPresenceState
from presence.sources.wazo.errors import log_skipped_item
from presence.sources.wazo.http import WazoHttp
from presence.sources.wazo.parsing import parse_presence, parse_presence_list

log = logging.getLogger(__name__)
# One malformed presence is skipped with a log line; the others still count.
_parse_presences = functools.partial(
    parse_presence_list, on_skip=log_skipped_item(log, "chatd GET /users/presences")
)


class ChatdClient:
    def __init__(self, http: WazoHttp) -> None:
        self._http = http

    async def list_presences(self, user_uuids: Iterable[str] = ()) -> list[PhoneState]:
        """Every user's presence (or only ``user_uuids``). chatd answers 503 ``not-initialized``
        while it starts: the caller sees a retryable :class:`WazoError`."""
        uuids = ",".join(user_uuids)
        params = {"user_uuid": uuids} if uuids else None
        return await self._http.request_parsed(
            _parse_presences, "chatd", "GET", "/users/presences", params=params
        )

    async def get_presence(self, user_uuid: str) -> PhoneState:
        return await self._http.request_parsed(
            parse_presence, "chatd", "GET", f"/users/{quote(user_uuid)}/presences"
        )

    async def set_presence(self, user_uuid: str, state: WazoPresenceState, status: str | None = None) -> None:
        """Set the state a user shows in Wazo's apps; only ``state`` and ``status`` are writable."""
        body: dict[str, str] = {"state": state.value}
        if status is not None:
            body["status"] = status
        await self._http.request(
            "chatd", "PUT", f"/users/{quote(user_uuid)}/presences", json_body=body, expect=(204,)
        )
