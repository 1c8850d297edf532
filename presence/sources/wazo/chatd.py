"""wazo-chatd presences (reference wazo-api.md §5)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable

from presence.model import PhoneState
from presence.sources.wazo.errors import log_skipped_item
from presence.sources.wazo.http import WazoHttp
from presence.sources.wazo.parsing import parse_presence_list

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
