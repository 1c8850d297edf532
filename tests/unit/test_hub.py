"""The per-user hub: change detection, isolation between users, listeners."""

from __future__ import annotations

import pytest

import presence.hub as hub_module
from presence.hub import INITIAL_PRESENCE, PresenceHub
from presence.model import (
    Activity,
    CalendarState,
    CombinedPresence,
    ImShow,
    ImState,
    LineState,
    PhoneState,
    WazoPresenceState,
)


def phone(line: LineState = LineState.AVAILABLE, **kw: object) -> PhoneState:
    return PhoneState(user_uuid="u-alice", line_state=line, **kw)  # type: ignore[arg-type]


@pytest.fixture
def hub() -> PresenceHub:
    return PresenceHub()


@pytest.fixture
def seen(hub: PresenceHub) -> list[tuple[str, CombinedPresence]]:
    calls: list[tuple[str, CombinedPresence]] = []
    hub.add_listener(lambda user, presence: calls.append((user, presence)))
    return calls


def test_unknown_user_is_offline(hub: PresenceHub) -> None:
    assert hub.presence("nobody").activity is Activity.OFFLINE
    assert hub.presence("nobody").available is False
    assert hub.phone("nobody") is None


def test_first_update_that_leaves_the_user_offline_is_not_a_change(
    hub: PresenceHub, seen: list[tuple[str, CombinedPresence]]
) -> None:
    assert hub.apply_im("alice", ImState(ImShow.OFFLINE, "bye")) is not None  # status text is visible
    assert hub.apply_calendar("bob", CalendarState(busy=False)) is None
    assert hub.apply_phone("carol", phone(LineState.UNAVAILABLE)) is None
    assert [user for user, _ in seen] == ["alice"]


def test_change_is_returned_once_and_notified_once(
    hub: PresenceHub, seen: list[tuple[str, CombinedPresence]]
) -> None:
    first = hub.apply_im("alice", ImState(ImShow.AVAILABLE, "WFH"))
    assert first is not None
    assert (first.activity, first.status) == (Activity.AVAILABLE, "WFH")
    assert hub.apply_im("alice", ImState(ImShow.AVAILABLE, "WFH")) is None
    assert seen == [("alice", first)]
    assert hub.presence("alice") == first


def test_input_change_with_no_visible_effect_is_not_a_change(
    hub: PresenceHub, seen: list[tuple[str, CombinedPresence]]
) -> None:
    hub.apply_im("alice", ImState(ImShow.AVAILABLE))
    assert hub.apply_phone("alice", phone(lines=((1, LineState.AVAILABLE),))) is not None  # raw line changes
    # A second line registering, or the Wazo app state changing, does not change what is published.
    assert hub.apply_phone("alice", phone(lines=((1, LineState.AVAILABLE), (2, LineState.AVAILABLE)))) is None
    assert hub.apply_phone("alice", phone(wazo_state=WazoPresenceState.AWAY)) is None
    assert len(seen) == 2
    assert hub.phone("alice") == phone(wazo_state=WazoPresenceState.AWAY)  # the input is still stored


def test_each_source_contributes(hub: PresenceHub) -> None:
    hub.apply_im("alice", ImState(ImShow.AWAY))
    got = hub.apply_phone("alice", phone(LineState.TALKING))
    assert got is not None
    assert got.activity is Activity.ON_THE_PHONE
    hub.apply_phone("alice", phone())
    meeting = hub.apply_calendar("alice", CalendarState(busy=True))
    assert meeting is not None
    assert (meeting.show, meeting.status) == ("dnd", "In a meeting")
    back = hub.apply_calendar("alice", CalendarState(busy=False))
    assert back is not None
    assert back.activity is Activity.AWAY


def test_explicit_dnd_flag(hub: PresenceHub) -> None:
    hub.apply_im("alice", ImState(ImShow.AVAILABLE))
    hub.apply_calendar("alice", CalendarState(busy=True))
    dnd = hub.apply_phone("alice", phone(do_not_disturb=True))
    assert dnd is not None
    assert dnd.activity is Activity.DO_NOT_DISTURB
    meeting = hub.apply_explicit_dnd("alice", False)  # the component set that DND for the meeting
    assert meeting is not None
    assert meeting.activity is Activity.IN_A_MEETING
    assert hub.apply_explicit_dnd("alice", False) is None


def test_users_are_independent(hub: PresenceHub, seen: list[tuple[str, CombinedPresence]]) -> None:
    hub.apply_im("alice", ImState(ImShow.AVAILABLE))
    hub.apply_im("bob", ImState(ImShow.XA))
    hub.apply_phone("alice", phone(LineState.RINGING))
    assert hub.presence("bob").activity is Activity.EXTENDED_AWAY
    assert hub.presence("alice").activity is Activity.RINGING
    assert [user for user, _ in seen] == ["alice", "bob", "alice"]
    assert len(hub) == 2


def test_an_update_merges_only_that_user(hub: PresenceHub, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(500):
        hub.apply_im(f"user{n}", ImState(ImShow.AVAILABLE))
    merged_for: list[ImState] = []
    real_merge = hub_module.merge

    def counting_merge(im: ImState, *rest: object) -> CombinedPresence:
        merged_for.append(im)
        return real_merge(im, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(hub_module, "merge", counting_merge)
    hub.apply_im("user7", ImState(ImShow.AWAY))
    assert merged_for == [ImState(ImShow.AWAY)]


def test_removed_listener_is_not_called(hub: PresenceHub) -> None:
    calls: list[str] = []
    remove = hub.add_listener(lambda user, _: calls.append(user))
    hub.apply_im("alice", ImState(ImShow.AVAILABLE))
    remove()
    remove()  # idempotent
    hub.apply_im("alice", ImState(ImShow.AWAY))
    assert calls == ["alice"]


def test_failing_listener_does_not_starve_the_others(hub: PresenceHub) -> None:
    calls: list[str] = []

    def broken(user: str, presence: CombinedPresence) -> None:
        raise RuntimeError("publisher down")

    hub.add_listener(broken)
    hub.add_listener(lambda user, _: calls.append(user))
    with pytest.raises(ExceptionGroup) as info:
        hub.apply_im("alice", ImState(ImShow.AVAILABLE))
    assert [type(e) for e in info.value.exceptions] == [RuntimeError]
    assert calls == ["alice"]
    assert hub.presence("alice").activity is Activity.AVAILABLE  # the state was stored anyway


def test_remove_user_reports_offline_once(hub: PresenceHub, seen: list[tuple[str, CombinedPresence]]) -> None:
    hub.apply_im("alice", ImState(ImShow.AVAILABLE))
    assert hub.remove("alice") == INITIAL_PRESENCE
    assert hub.remove("alice") is None
    assert seen[-1] == ("alice", INITIAL_PRESENCE)
    assert len(hub) == 0
    assert hub.apply_calendar("nobody", CalendarState()) is None
    assert hub.remove("nobody") is None  # known but offline: nothing to tell
