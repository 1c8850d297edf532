"""Users' own settings (today: who may see their phone), cached in memory, kept in the store.

Keyed by the Wazo user uuid: a user whose email changes keeps their settings.

One JSON document per user (``{"privacy": {"hidden": …, "visible_to": […]}}``) so that later
settings (calendar, forwarding) join the same row without a migration. A document that cannot be
read is logged with the key at fault and treated as "no setting": the row stays untouched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from presence.identity import People
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
    """Settings by Wazo user uuid, so that they follow a user whose email (chat JID) changes.

    Rows written before the store knew uuids (schema v1) are keyed by chat JID until the first
    read of Wazo's users maps that JID to a uuid (:meth:`adopt`).
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._documents: dict[str, dict[str, Any]] = {}  # wazo uuid -> document
        self._privacy: dict[str, OwnerPrivacy] = {}  # wazo uuid -> privacy
        self._unadopted: dict[str, dict[str, Any]] = {}  # chat JID -> document (no uuid yet)
        # Called with the user's Wazo uuid after their privacy changed (the app drops their
        # watchers no longer allowed).
        self.on_privacy_change: Callable[[str], Awaitable[object]] | None = None

    async def load(self) -> None:
        for user_jid, wazo_uuid, text in await self._store.all_settings_rows():
            try:
                document = json.loads(text)
            except ValueError:
                log.error("settings of %s are not valid JSON; ignored (kept as they are)", user_jid)
                continue
            if not isinstance(document, dict):
                continue
            if wazo_uuid is None:
                self._unadopted[user_jid] = document
            else:
                self._documents[wazo_uuid] = document
                self._privacy[wazo_uuid] = _privacy_from(document, user_jid)

    async def adopt(self, people: People) -> int:
        """Rows known only by chat JID become their Wazo user's, once Wazo's users are read."""
        adopted = 0
        for user_jid in list(self._unadopted):
            person = people.by_chat_jid.get(user_jid)
            if person is None or person.wazo_uuid in self._documents:
                continue
            if await self._store.adopt_settings(user_jid, person.wazo_uuid):
                document = self._unadopted.pop(user_jid)
                self._documents[person.wazo_uuid] = document
                self._privacy[person.wazo_uuid] = _privacy_from(document, user_jid)
                adopted += 1
        if adopted:
            log.info("settings of %d users now follow their Wazo user", adopted)
        return adopted

    def privacy(self, wazo_uuid: str) -> OwnerPrivacy:
        return self._privacy.get(wazo_uuid, DEFAULT_PRIVACY)

    async def set_privacy(self, wazo_uuid: str, user_jid: str, privacy: OwnerPrivacy) -> None:
        """Save ``privacy`` for Wazo user ``wazo_uuid`` (chat JID ``user_jid`` today)."""
        document = dict(self._documents.get(wazo_uuid) or self._unadopted.get(user_jid) or {})
        document["privacy"] = {"hidden": privacy.hidden, "visible_to": sorted(privacy.visible_to)}
        await self._store.save_settings(user_jid, json.dumps(document, sort_keys=True), wazo_uuid)
        self._unadopted.pop(user_jid, None)
        self._documents[wazo_uuid] = document
        self._privacy[wazo_uuid] = privacy
        if self.on_privacy_change is not None:
            await self.on_privacy_change(wazo_uuid)
