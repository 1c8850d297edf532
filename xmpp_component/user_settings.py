"""Users' own settings (who may see their phone, call rules), cached in memory, kept in the store.

Keyed by the Wazo user uuid: a user whose email changes keeps their settings.

One JSON document per user (``{"privacy": {"hidden": …, "visible_to": […]}}``) so that later
settings (calendar, forwarding) join the same row without a migration. A document that cannot be
read is logged with the key at fault and treated as "no setting": the row stays untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from presence.identity import People
from presence.privacy import OwnerPrivacy
from rules.model import DEFAULT_SETTINGS, CallTarget, RuleSettings, Target
from store import StateStore
from xmpp_component.ring_first import MAIN, RingFirst

log = logging.getLogger(__name__)

DEFAULT_PRIVACY = OwnerPrivacy()


@dataclass(frozen=True, slots=True)
class CallNotices:
    """Which call notices the component sends the user in the chat."""

    missed_calls: bool = True  # "Missed call from Bob Martin (1002) at 14:05"
    incoming_calls: bool = False  # "Bob Martin (1002) is calling"


DEFAULT_NOTICES = CallNotices()


def _notices_from(document: Any, user_jid: str) -> CallNotices:
    """The "call_notices" key: {"missed_calls": bool, "incoming_calls": bool}."""
    notices = document.get("call_notices") if isinstance(document, dict) else None
    if notices is None:
        return DEFAULT_NOTICES
    if not isinstance(notices, dict) or not all(
        isinstance(notices.get(k), bool) for k in ("missed_calls", "incoming_calls")
    ):
        log.error("settings of %s: key 'call_notices' is malformed; using the default", user_jid)
        return DEFAULT_NOTICES
    return CallNotices(missed_calls=notices["missed_calls"], incoming_calls=notices["incoming_calls"])


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


def _target_from(value: Any) -> CallTarget:
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return CallTarget(Target(str(value.get("target"))), str(value.get("number") or ""))


def _call_rules_from(document: Any, user_jid: str) -> RuleSettings:
    """The "call_rules" key: {"meeting_busy": bool, "meeting_calls": {"target", "number"}, "dnd_calls": …}."""
    rules = document.get("call_rules") if isinstance(document, dict) else None
    if rules is None:
        return DEFAULT_SETTINGS
    try:
        if not isinstance(rules, dict) or not isinstance(rules.get("meeting_busy"), bool):
            raise ValueError("meeting_busy is not a boolean")
        return RuleSettings(
            meeting_busy=rules["meeting_busy"],
            meeting_calls=_target_from(rules.get("meeting_calls")),
            dnd_calls=_target_from(rules.get("dnd_calls")),
        )
    except ValueError:
        log.error("settings of %s: key 'call_rules' is malformed; using the default", user_jid)
        return DEFAULT_SETTINGS


def _call_rules_document(rules: RuleSettings) -> dict[str, Any]:
    return {
        "meeting_busy": rules.meeting_busy,
        "meeting_calls": {"target": rules.meeting_calls.target.value, "number": rules.meeting_calls.number},
        "dnd_calls": {"target": rules.dnd_calls.target.value, "number": rules.dnd_calls.number},
    }


def _ring_first_from(document: Any, user_jid: str) -> RingFirst:
    """The "ring_first" key: {"mode": "main|all|mobile|line", "line_id": int, "line_name": str}."""
    value = document.get("ring_first") if isinstance(document, dict) else None
    if value is None:
        return MAIN
    try:
        return RingFirst.from_document(value)
    except ValueError:
        log.error("settings of %s: key 'ring_first' is malformed; using the main line", user_jid)
        return MAIN


class UserSettings:
    """Settings by Wazo user uuid, so that they follow a user whose email (chat JID) changes.

    Rows written before the store knew uuids (schema v1) are keyed by chat JID until the first
    read of Wazo's users maps that JID to a uuid (:meth:`adopt`).
    """

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._documents: dict[str, dict[str, Any]] = {}  # wazo uuid -> document
        self._privacy: dict[str, OwnerPrivacy] = {}  # wazo uuid -> privacy
        self._unadopted: dict[str, dict[str, Any]] = {}  # chat JID -> document (no uuid yet)
        # Called with the user's Wazo uuid after their privacy changed (the app drops their
        # watchers no longer allowed).
        self.on_privacy_change: Callable[[str], Awaitable[object]] | None = None
        self._call_rules: dict[str, RuleSettings] = {}  # wazo uuid -> call rules
        # Called with the user's Wazo uuid after their call rules changed (the rules re-decide).
        self.on_call_rules_change: Callable[[str], object] | None = None
        self._ring_first: dict[str, RingFirst] = {}  # wazo uuid -> which phone rings first
        self._notices: dict[str, CallNotices] = {}  # wazo uuid -> call notices
        self._writing = asyncio.Lock()  # store writes in the order of the changes

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
                self._remember(wazo_uuid, document, user_jid)

    async def adopt(self, people: People) -> int:
        """Rows known only by chat JID become their Wazo user's, once Wazo's users are read."""
        adopted = 0
        for user_jid in list(self._unadopted):
            person = people.by_chat_jid.get(user_jid)
            if person is None or person.wazo_uuid in self._documents:
                continue
            if await self._store.adopt_settings(user_jid, person.wazo_uuid):
                document = self._unadopted.pop(user_jid)
                self._remember(person.wazo_uuid, document, user_jid)
                adopted += 1
        if adopted:
            log.info("settings of %d users now follow their Wazo user", adopted)
        return adopted

    @contextlib.asynccontextmanager
    async def _changing(self, wazo_uuid: str, user_jid: str, key: str, value: Any) -> AsyncIterator[None]:
        """Set one key of the user's document in memory, then write the document to the store.

        In memory first, before any await: each chat message is handled on its own task, and a
        second change typed at once must start from this one, not from the document as it was
        (it would write that back, undoing this one). The body sets the parsed value, at once as
        well. The writes go out one at a time, in the order of the changes, each with the user's
        document as it is then. A failed write puts the memory back as it was, if nothing changed
        it meanwhile, and raises.
        """
        before = self._documents.get(wazo_uuid)
        unadopted = self._unadopted.pop(user_jid, None)
        document = dict(before or unadopted or {})
        document[key] = value
        self._documents[wazo_uuid] = document
        yield
        try:
            async with self._writing:
                latest = self._documents.get(wazo_uuid, document)
                await self._store.save_settings(user_jid, json.dumps(latest, sort_keys=True), wazo_uuid)
        except BaseException:
            if self._documents.get(wazo_uuid) is document:
                if before is not None:
                    self._remember(wazo_uuid, before, user_jid)
                else:
                    self._documents.pop(wazo_uuid, None)
                    self._privacy.pop(wazo_uuid, None)
                    self._call_rules.pop(wazo_uuid, None)
                    self._ring_first.pop(wazo_uuid, None)
                    self._notices.pop(wazo_uuid, None)
                if unadopted is not None:
                    self._unadopted[user_jid] = unadopted
            raise

    def _remember(self, wazo_uuid: str, document: dict[str, Any], user_jid: str) -> None:
        self._documents[wazo_uuid] = document
        self._privacy[wazo_uuid] = _privacy_from(document, user_jid)
        self._call_rules[wazo_uuid] = _call_rules_from(document, user_jid)
        self._ring_first[wazo_uuid] = _ring_first_from(document, user_jid)
        self._notices[wazo_uuid] = _notices_from(document, user_jid)

    def privacy(self, wazo_uuid: str) -> OwnerPrivacy:
        return self._privacy.get(wazo_uuid, DEFAULT_PRIVACY)

    async def set_privacy(self, wazo_uuid: str, user_jid: str, privacy: OwnerPrivacy) -> None:
        """Save ``privacy`` for Wazo user ``wazo_uuid`` (chat JID ``user_jid`` today)."""
        value = {"hidden": privacy.hidden, "visible_to": sorted(privacy.visible_to)}
        async with self._changing(wazo_uuid, user_jid, "privacy", value):
            self._privacy[wazo_uuid] = privacy
        if self.on_privacy_change is not None:
            await self.on_privacy_change(wazo_uuid)

    # --- call rules (meetings, Do not disturb) ---------------------------------------------------

    def call_rules(self, wazo_uuid: str) -> RuleSettings:
        return self._call_rules.get(wazo_uuid, DEFAULT_SETTINGS)

    async def set_call_rules(self, wazo_uuid: str, user_jid: str, rules: RuleSettings) -> None:
        """Save ``rules`` for Wazo user ``wazo_uuid`` (chat JID ``user_jid`` today)."""
        async with self._changing(wazo_uuid, user_jid, "call_rules", _call_rules_document(rules)):
            self._call_rules[wazo_uuid] = rules
        if self.on_call_rules_change is not None:
            self.on_call_rules_change(wazo_uuid)

    # --- which phone rings first when the user places a call ------------------------------------

    def ring_first(self, wazo_uuid: str) -> RingFirst:
        return self._ring_first.get(wazo_uuid, MAIN)

    async def set_ring_first(self, wazo_uuid: str, user_jid: str, choice: RingFirst) -> None:
        """Save ``choice`` for Wazo user ``wazo_uuid`` (chat JID ``user_jid`` today)."""
        async with self._changing(wazo_uuid, user_jid, "ring_first", choice.to_document()):
            self._ring_first[wazo_uuid] = choice

    # --- call notices (missed and incoming calls) -----------------------------------------------

    def notices(self, wazo_uuid: str) -> CallNotices:
        return self._notices.get(wazo_uuid, DEFAULT_NOTICES)

    async def set_notices(self, wazo_uuid: str, user_jid: str, notices: CallNotices) -> None:
        """Save ``notices`` for Wazo user ``wazo_uuid`` (chat JID ``user_jid`` today)."""
        value = {"missed_calls": notices.missed_calls, "incoming_calls": notices.incoming_calls}
        async with self._changing(wazo_uuid, user_jid, "call_notices", value):
            self._notices[wazo_uuid] = notices
