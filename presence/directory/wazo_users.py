"""The Wazo user list (confd ``GET /users?search=``) as a directory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from presence.directory.ldap_query import Match, digits_of, words_of
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
        match = Match.of(query)
        if match is None:
            return []
        # confd's search is one accent-insensitive substring: it is asked for the longest word
        # (the most selective), and users are kept here when every word typed starts a word of
        # their name, in any order, as in the other sources ("muller zoe", not "ller").
        asked = max(query.split(), key=len)
        try:
            # A short query ("an") may match thousands: ranking keeps a few, so read a few.
            users = await confd.list_users(search=asked, at_most=SEARCH_READ_LIMIT)
        except WazoError as error:
            raise DirectoryUnavailable(f"confd: {error.error_id}") from error
        found = []
        for user in users:
            entries = entries_of(user, self._mobiles)
            names = [user.display_name, user.username, user.email.split("@", 1)[0].replace(".", " ")]
            if match.accepts(words_of(names), [digits_of(e.number) for e in entries]):
                found += entries
        return found
