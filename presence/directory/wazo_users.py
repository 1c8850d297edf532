"""The Wazo user list (confd ``GET /users?search=``) as a directory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from presence.directory.model import DirectoryEntry, DirectoryUnavailable, NumberKind
from presence.sources.wazo.confd import WazoUser
from presence.sources.wazo.errors import WazoError


class UserSearch(Protocol):
    async def list_users(
        self, search: str | None = None, *, at_most: int | None = None, **exact: str
    ) -> list[WazoUser]: ...


def entries_of(user: WazoUser, mobiles: bool = True) -> list[DirectoryEntry]:
    """One entry per number: each line's main extension, then the mobile phone."""
    name = user.display_name or user.username or user.email
    entries = []
    for line in user.lines:
        extension = line.main_extension
        if extension is not None and extension.exten:
            entries.append(DirectoryEntry(name, extension.exten, NumberKind.EXTENSION, "wazo", user.uuid))
    if mobiles and user.mobile_phone_number:
        entries.append(DirectoryEntry(name, user.mobile_phone_number, NumberKind.MOBILE, "wazo", user.uuid))
    return entries


SEARCH_READ_LIMIT = 100


class WazoUsersDirectory:
    """``confd`` returns the client to use, or ``None`` while Wazo is not connected."""

    name = "wazo"

    def __init__(self, confd: Callable[[], UserSearch | None], mobiles: bool = True) -> None:
        self._confd = confd
        self._mobiles = mobiles  # colleagues' mobile numbers are searchable only when allowed

    async def search(self, query: str, owner: str = "") -> Sequence[DirectoryEntry]:
        confd = self._confd()
        if confd is None:
            raise DirectoryUnavailable("Wazo is not connected")
        try:
            # A short query ("an") may match thousands: ranking keeps a few, so read a few.
            users = await confd.list_users(search=query, at_most=SEARCH_READ_LIMIT)
        except WazoError as error:
            raise DirectoryUnavailable(f"confd: {error.error_id}") from error
        return [entry for user in users for entry in entries_of(user, self._mobiles)]
