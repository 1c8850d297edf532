"""Per-user latest inputs and combined presence, with change detection. Pure and synchronous.

Sources call ``apply_*`` with a user's new chat, phone or calendar state; the hub re-merges only
that user (O(1) per update, never a scan over all users) and reports the new
:class:`CombinedPresence` only when it differs from the last one computed for that user. Watchers
thus get nothing for the many events that change nothing visible (a second line registering, a
DND already on...). Coalescing several changes per event-loop tick is the publisher's job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from presence.merge import merge
from presence.model import CalendarState, CombinedPresence, ImState, PhoneState

Listener = Callable[[str, CombinedPresence], None]

_NO_IM = ImState()
_NO_CALENDAR = CalendarState()
# What a user never heard of is: the baseline for the first change detection, so a first update
# that still leaves the user offline is not reported as a change.
INITIAL_PRESENCE: CombinedPresence = merge(_NO_IM, None, _NO_CALENDAR)


@dataclass(slots=True)
class _UserState:
    im: ImState = _NO_IM
    phone: PhoneState | None = None
    calendar: CalendarState = _NO_CALENDAR
    explicit_dnd: bool | None = None
    presence: CombinedPresence = INITIAL_PRESENCE


class PresenceHub:
    """user key (phone JID localpart or Wazo user uuid, the caller's choice) → latest state."""

    def __init__(self) -> None:
        self._users: dict[str, _UserState] = {}
        self._listeners: list[Listener] = []

    # --- listeners ---------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(user, presence)`` on every change; returns a function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    # --- reading -----------------------------------------------------------------------------

    def presence(self, user: str) -> CombinedPresence:
        """The user's current combined presence (offline for a user never heard of)."""
        state = self._users.get(user)
        return state.presence if state is not None else INITIAL_PRESENCE

    def im(self, user: str) -> ImState:
        state = self._users.get(user)
        return state.im if state is not None else _NO_IM

    def phone(self, user: str) -> PhoneState | None:
        state = self._users.get(user)
        return state.phone if state is not None else None

    def calendar(self, user: str) -> CalendarState:
        state = self._users.get(user)
        return state.calendar if state is not None else _NO_CALENDAR

    def __len__(self) -> int:
        return len(self._users)

    # --- writing: each returns the new presence if it changed, else None ---------------------

    def apply_im(self, user: str, im: ImState) -> CombinedPresence | None:
        state = self._state(user)
        if state.im == im:
            return None
        state.im = im
        return self._recompute(user, state)

    def apply_phone(self, user: str, phone: PhoneState | None) -> CombinedPresence | None:
        """The user's whole phone state (None: no Wazo state, e.g. the user left Wazo)."""
        state = self._state(user)
        if state.phone == phone:
            return None
        state.phone = phone
        return self._recompute(user, state)

    def apply_calendar(self, user: str, calendar: CalendarState) -> CombinedPresence | None:
        state = self._state(user)
        if state.calendar == calendar:
            return None
        state.calendar = calendar
        return self._recompute(user, state)

    def apply_explicit_dnd(self, user: str, explicit_dnd: bool | None) -> CombinedPresence | None:
        """Whether the PBX DND is the user's own (see :func:`presence.merge.merge`); None: trust the PBX."""
        state = self._state(user)
        if state.explicit_dnd == explicit_dnd:
            return None
        state.explicit_dnd = explicit_dnd
        return self._recompute(user, state)

    def remove(self, user: str) -> CombinedPresence | None:
        """Forget a user (deprovisioned); reports the offline presence if they were not offline."""
        state = self._users.pop(user, None)
        if state is None or state.presence == INITIAL_PRESENCE:
            return None
        self._notify(user, INITIAL_PRESENCE)
        return INITIAL_PRESENCE

    # --- internals ---------------------------------------------------------------------------

    def _state(self, user: str) -> _UserState:
        state = self._users.get(user)
        if state is None:
            state = self._users[user] = _UserState()
        return state

    def _recompute(self, user: str, state: _UserState) -> CombinedPresence | None:
        presence = merge(state.im, state.phone, state.calendar, state.explicit_dnd)
        if presence is state.presence or presence == state.presence:  # `is`: merge shares equal states
            return None
        state.presence = presence
        self._notify(user, presence)
        return presence

    def _notify(self, user: str, presence: CombinedPresence) -> None:
        # Every listener is called even if one fails: the publisher crashing must not keep the
        # rules reconciler from seeing the change. The failures are raised together afterwards;
        # the new state is stored already, so nothing has to be replayed.
        errors: list[Exception] = []
        for listener in tuple(self._listeners):
            try:
                listener(user, presence)
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise ExceptionGroup(f"presence listener failed for {user!r}", errors)
