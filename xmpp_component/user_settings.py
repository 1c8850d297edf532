"""Users' own settings (today: who may see their phone), cached in memory, kept in the store.

One JSON document per user (``{"privacy": {"hidden": …, "visible_to": […]}}``) so that later
settings (calendar, forwarding) join the same row without a migration. A document that cannot be
read is logged with the key at fault and treated as "no setting": the row stays untouched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from presence.privacy import OwnerPrivacy
from store import Store

log = logging.getLogger(__name__)

DEFAULT_PRIVACY = OwnerPrivacy()


def _privacy_from(document: Any, user_jid: str) -> OwnerPrivacy:
    privacy = document.get("privacy") if isinstance(document, dict) else None
    if privacy is None:
        return DEFAULT_PRIVACY
    hidden = privacy.get("hidden") if isinstance(privacy, dict) else None
    visible_to = privacy.get("visible_to") if isinstance(privacy, dict) else None
    if not isinstance(hidden, bool) or not (
        isinstance(visible_to, list) and all(isinstance(j, str) for j in visible_to)
    ):
        log.error("settings of %s: key 'privacy' is malformed; using the default", user_jid)
        return DEFAULT_PRIVACY
    return OwnerPrivacy(hidden=hidden, visible_to=frozenset(j.lower() for j in visible_to))


class UserSettings:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._documents: dict[str, dict[str, Any]] = {}
        self._privacy: dict[str, OwnerPrivacy] = {}
        # Called with the user's JID after their privacy changed (the app drops their watchers
        # no longer allowed).
        self.on_privacy_change: Callable[[str], Awaitable[object]] | None = None

    async def load(self) -> None:
        for user_jid, text in (await self._store.all_settings()).items():
            try:
                document = json.loads(text)
            except ValueError:
                log.error("settings of %s are not valid JSON; ignored (kept as they are)", user_jid)
                continue
            if isinstance(document, dict):
                self._documents[user_jid] = document
                self._privacy[user_jid] = _privacy_from(document, user_jid)

    def privacy(self, user_jid: str) -> OwnerPrivacy:
        return self._privacy.get(user_jid, DEFAULT_PRIVACY)

    async def set_privacy(self, user_jid: str, privacy: OwnerPrivacy) -> None:
        document = dict(self._documents.get(user_jid, {}))
        document["privacy"] = {"hidden": privacy.hidden, "visible_to": sorted(privacy.visible_to)}
        await self._store.save_settings(user_jid, json.dumps(document, sort_keys=True))
        self._documents[user_jid] = document
        self._privacy[user_jid] = privacy
        if self.on_privacy_change is not None:
            await self.on_privacy_change(user_jid)
