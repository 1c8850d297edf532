"""wazo-calld: click-to-call, hangup, current calls, voicemail messages (wazo-api.md §7)."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from presence.model import Call
from presence.sources.wazo.errors import WazoError, WazoShapeError, log_skipped_item
from presence.sources.wazo.http import WazoHttp
from presence.sources.wazo.parsing import parse_call, parse_call_list


@dataclass(frozen=True, slots=True)
class VoicemailMessage:
    message_id: str
    caller_number: str
    caller_name: str
    duration_seconds: int
    timestamp: int
    folder: str  # new | old | urgent | other
    voicemail_id: int | None = None  # the mailbox holding it
    personal: bool = True  # False: a shared (global) mailbox the user can read, not the user's own


def parse_voicemail_messages(body: Any) -> list[VoicemailMessage]:
    what = "calld voicemail messages"
    if not isinstance(body, Mapping) or not isinstance(body.get("items"), list):
        raise WazoShapeError(what, "items", "is missing or not a list")
    messages = []
    for item in body["items"]:
        if not isinstance(item, Mapping):
            raise WazoShapeError(what, "items[]", "must be an object")
        message_id = item.get("id")
        if not isinstance(message_id, str | int) or isinstance(message_id, bool):
            raise WazoShapeError(what, "items[].id", "is missing or not a string")
        duration = item.get("duration") or 0
        timestamp = item.get("timestamp") or 0
        if not isinstance(duration, int) or not isinstance(timestamp, int):
            raise WazoShapeError(what, "items[].duration", "must be integers (with timestamp)")
        folder = item.get("folder")
        folder_type = folder.get("type") if isinstance(folder, Mapping) else None
        box = item.get("voicemail")
        box_id = box.get("id") if isinstance(box, Mapping) else None
        messages.append(
            VoicemailMessage(
                message_id=str(message_id),
                caller_number=str(item.get("caller_id_num") or ""),
                caller_name=str(item.get("caller_id_name") or ""),
                duration_seconds=duration,
                timestamp=timestamp,
                folder=folder_type if isinstance(folder_type, str) else "new",
                voicemail_id=box_id if isinstance(box_id, int) and not isinstance(box_id, bool) else None,
                personal=not isinstance(box, Mapping) or box.get("accesstype", "personal") == "personal",
            )
        )
    return messages


log = logging.getLogger(__name__)
# One malformed call is skipped with a log line; the others still count.
_parse_calls = functools.partial(parse_call_list, on_skip=log_skipped_item(log, "calld GET /calls"))


class CalldClient:
    def __init__(self, http: WazoHttp) -> None:
        self._http = http

    async def originate(
        self,
        user_uuid: str,
        extension: str,
        context: str,
        *,
        line_id: int | None = None,
        auto_answer: bool = False,
        variables: Mapping[str, str] | None = None,
        all_lines: bool = False,
        from_mobile: bool = False,
    ) -> Call:
        """Click-to-call as the service account: ring the user's phone, then dial ``extension``.

        ``context`` is the context of the user's line (confd), as calld itself does for
        ``/users/me/calls``. Which phone rings first: ``line_id`` (default: the main line), every
        line (``all_lines``, ignored by calld with a line_id) or the user's mobile (``from_mobile``).
        """
        source: dict[str, Any] = {"user": user_uuid}
        if line_id is not None:
            source["line_id"] = line_id
        if all_lines:
            source["all_lines"] = True
        if from_mobile:
            source["from_mobile"] = True
        if auto_answer:
            source["auto_answer"] = True
        body = {
            "source": source,
            "destination": {"extension": extension.strip(), "context": context, "priority": 1},
            "variables": dict(variables or {}),
        }
        return await self._http.request_parsed(
            parse_call, "calld", "POST", "/calls", json_body=body, expect=(201,)
        )

    async def hangup(self, call_id: str) -> None:
        await self._http.request("calld", "DELETE", f"/calls/{quote(call_id)}", expect=(204,))

    async def list_calls(self) -> list[Call]:
        """Every current call of the tenant that belongs to a user."""
        return await self._http.request_parsed(_parse_calls, "calld", "GET", "/calls")

    async def list_user_calls(self, user_uuid: str) -> list[Call]:
        return [call for call in await self.list_calls() if call.user_uuid == user_uuid]

    async def user_voicemail_messages(self, user_uuid: str) -> list[VoicemailMessage]:
        """A user's voicemail messages as the service account (calld >= 26.05 admin route)."""
        return await self._http.request_parsed(
            parse_voicemail_messages,
            "calld",
            "GET",
            "/voicemails/messages",
            params={"user_uuid": user_uuid},
        )

    async def old_folder_id(self, voicemail_id: int) -> int:
        """The id of the mailbox's folder of type "old": reading a message is moving it there."""
        body = await self._http.request("calld", "GET", f"/voicemails/{voicemail_id}")
        folders = body.get("folders") if isinstance(body, Mapping) else None
        for folder in folders if isinstance(folders, list) else []:
            if (
                isinstance(folder, Mapping)
                and folder.get("type") == "old"
                and isinstance(folder.get("id"), int)
            ):
                return int(folder["id"])
        raise WazoError(
            f"calld GET /voicemails/{voicemail_id}", 200, "unexpected-shape", "no folder of type old"
        )

    async def move_voicemail_message(self, voicemail_id: int, message_id: str, folder_id: int) -> None:
        await self._http.request(
            "calld",
            "PUT",
            f"/voicemails/{voicemail_id}/messages/{quote(message_id, safe='')}",
            json_body={"folder_id": folder_id},
            expect=(204,),
        )

    async def delete_voicemail_message(self, voicemail_id: int, message_id: str) -> None:
        await self._http.request(
            "calld",
            "DELETE",
            f"/voicemails/{voicemail_id}/messages/{quote(message_id, safe='')}",
            expect=(204,),
        )

    def voicemail_recording(
        self, voicemail_id: int, message_id: str
    ) -> contextlib.AbstractAsyncContextManager[aiohttp.ClientResponse]:
        """The recording's response, open and unread (read it chunk by chunk)."""
        path = f"/voicemails/{voicemail_id}/messages/{quote(message_id, safe='')}/recording"
        return self._http.open_stream("calld", path, accept="audio/*")
