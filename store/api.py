"""What the rest of the program may ask of a store, whichever database holds it.

:class:`store.db.Store` (SQLite, the embedded default) and :class:`store.postgres.PostgresStore`
(PostgreSQL, for an active/standby pair) both provide it; the parts are typed against this, so a
method added to one store and not the other is a type error, not a surprise in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Protocol

# One call_history row: (user uuid, call key, direction, outcome, number, name, started_at in unix
# milliseconds, duration in seconds).
CallRow = tuple[str, str, str, str, str, str, int, int]
# One Wazo user as the last read gave them: (uuid, email, username, display name).
WazoUserRow = tuple[str, str, str, str]

# The call_history columns' declared lengths (user uuid, call key, direction, outcome, number,
# name). PostgreSQL refuses a longer value where SQLite keeps it: both stores cut alike, so a
# trunk's overlong caller ID name is shortened on either store instead of losing the call.
CALL_ROW_LENGTHS = (64, 128, 16, 16, 64, 256)


def bounded_call_row(row: CallRow) -> CallRow:
    u, k, d, o, n, m, t, s = row
    u, k, d, o, n, m = (
        text[:limit] for text, limit in zip((u, k, d, o, n, m), CALL_ROW_LENGTHS, strict=True)
    )
    return (u, k, d, o, n, m, t, s)


class StateStore(Protocol):
    @property
    def path(self) -> Path | str: ...

    async def close(self) -> None: ...

    async def schema_version(self) -> int: ...

    async def add_phone_subscription(
        self, owner: str, subscriber: str, owner_uuid: str | None = None
    ) -> bool: ...

    async def adopt_phone_subscriptions(self, owner: str, owner_uuid: str) -> int: ...

    async def remove_phone_subscription(self, owner: str, subscriber: str) -> bool: ...

    async def all_phone_subscriptions(self) -> list[tuple[str, str, str | None]]: ...

    def phone_subscription_groups(
        self, size: int = 2_000
    ) -> AsyncIterator[list[tuple[str, str | None, list[str]]]]: ...

    async def set_im_subscription(self, user_jid: str, state: str) -> None: ...

    async def im_subscriptions(self) -> dict[str, str]: ...

    async def roster_items(self, owner: str) -> list[tuple[str, str, str]]: ...

    async def roster_owners(self) -> list[str]: ...

    async def set_roster_items(self, owner: str, rows: Sequence[tuple[str, str, str]]) -> None: ...

    async def forget_roster_items(self, owner: str, items: Sequence[str]) -> None: ...

    async def save_settings(
        self, user_jid: str, settings_json: str, wazo_uuid: str | None = None
    ) -> None: ...

    async def adopt_settings(self, user_jid: str, wazo_uuid: str) -> bool: ...

    async def all_settings_rows(self) -> list[tuple[str, str | None, str]]: ...

    async def save_call_routing(self, user_uuid: str, record_json: str | None) -> None: ...

    async def all_call_routing(self) -> dict[str, str]: ...

    async def wazo_directory(self) -> list[WazoUserRow]: ...

    async def save_wazo_directory(self, rows: Sequence[WazoUserRow]) -> None: ...

    async def address_book_token(self, book: str) -> str | None: ...

    async def address_book_cards(self, book: str) -> dict[str, str]: ...

    async def apply_address_book(
        self,
        book: str,
        token: str | None,
        full: bool,
        cards: Sequence[tuple[str, str, str]],
        deleted: Sequence[str],
    ) -> None: ...

    async def save_call(self, row: CallRow, keep: int) -> None: ...

    async def save_calls(self, rows: Sequence[CallRow], keep: int) -> None: ...

    async def recent_calls(self, user_uuid: str, limit: int) -> list[CallRow]: ...

    async def counts(self) -> dict[str, int]: ...


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


async def open_store(path: str, url: str = "", password: str | None = None) -> StateStore:
    """The configured store, opened and migrated: PostgreSQL when ``url`` is set, else SQLite."""
    if url:
        from store.postgres import PostgresStore  # asyncpg is loaded only where it is used

        return await PostgresStore(url, password).open()
    from store.db import Store

    return await Store(path).open()
