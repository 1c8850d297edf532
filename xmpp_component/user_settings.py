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
from rules.model import DEFAULT_SETTINGS, CallTarget, RuleSettings, Target
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


class UserSettings:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._documents: dict[str, dict[str, Any]] = {}
        self._privacy: dict[str, OwnerPrivacy] = {}
        # Called after a user's privacy changed (the app drops watchers no longer allowed).
        self.on_privacy_change: Callable[[], Awaitable[object]] | None = None
        self._call_rules: dict[str, RuleSettings] = {}
        # Called with the user's JID after their call rules changed (the rules re-decide at once).
        self.on_call_rules_change: Callable[[str], object] | None = None

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
                self._call_rules[user_jid] = _call_rules_from(document, user_jid)

    def privacy(self, user_jid: str) -> OwnerPrivacy:
        return self._privacy.get(user_jid, DEFAULT_PRIVACY)

    async def set_privacy(self, user_jid: str, privacy: OwnerPrivacy) -> None:
        document = dict(self._documents.get(user_jid, {}))
        document["privacy"] = {"hidden": privacy.hidden, "visible_to": sorted(privacy.visible_to)}
        await self._store.save_settings(user_jid, json.dumps(document, sort_keys=True))
        self._documents[user_jid] = document
        self._privacy[user_jid] = privacy
        if self.on_privacy_change is not None:
            await self.on_privacy_change()

    # --- call rules (meetings, Do not disturb) ---------------------------------------------------

    def call_rules(self, user_jid: str) -> RuleSettings:
        return self._call_rules.get(user_jid, DEFAULT_SETTINGS)

    async def set_call_rules(self, user_jid: str, rules: RuleSettings) -> None:
        document = dict(self._documents.get(user_jid, {}))
        document["call_rules"] = _call_rules_document(rules)
        await self._store.save_settings(user_jid, json.dumps(document, sort_keys=True))
        self._documents[user_jid] = document
        self._call_rules[user_jid] = rules
        if self.on_call_rules_change is not None:
            self.on_call_rules_change(user_jid)
