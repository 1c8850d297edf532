"""Who called each user last, learnt from the hub's phone state (calld keeps no call history)."""

from __future__ import annotations

from dataclasses import dataclass

from presence.hub import PresenceHub
from presence.model import CombinedPresence


@dataclass(frozen=True, slots=True)
class Caller:
    number: str
    name: str


class LastCallers:
    """Follows the hub: each incoming call seen on a user's phone becomes their last caller."""

    def __init__(self, hub: PresenceHub) -> None:
        self._hub = hub
        self._last: dict[str, Caller] = {}  # Wazo user uuid (the hub's key) -> caller
        self._seen_calls: dict[str, str] = {}  # Wazo user uuid -> last call id recorded
        hub.add_listener(self._on_change)

    def _on_change(self, user: str, _presence: CombinedPresence) -> None:
        phone = self._hub.phone(user)
        if phone is None:
            return
        for call in phone.calls:
            if not call.is_caller and call.peer_number and self._seen_calls.get(user) != call.call_id:
                self._seen_calls[user] = call.call_id
                self._last[user] = Caller(call.peer_number, call.peer_name)

    def get(self, wazo_uuid: str) -> Caller | None:
        return self._last.get(wazo_uuid)
