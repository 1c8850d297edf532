"""The reconciler's plan: examples of each case, then a property (hypothesis) over any sequence of
rule changes, user changes on the PBX and crashes: once every rule is off, the PBX holds exactly
the user's own routing, and nothing of the component's is left in the record."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from presence.model import ImShow
from rules.engine import RuleInputs, decide
from rules.model import (
    NOWHERE,
    USER_RINGS,
    CallTarget,
    Forward,
    Interval,
    PbxRouting,
    RuleSettings,
    Target,
)
from rules.reconcile import NO_RECORD, Override, RoutingRecord, plan

NOW = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
TO_VOICEMAIL = PbxRouting(dnd=True)


def wanting(target: PbxRouting | None):  # type: ignore[no-untyped-def]
    """A stand-in engine: ``target`` while a rule applies, the user's own routing otherwise."""
    return lambda own: own if target is None or own.diverts else target


def test_first_override_saves_the_users_routing_before_writing() -> None:
    own = PbxRouting(forward=Forward(False, "+4930"))
    step = plan(NO_RECORD, own, wanting(TO_VOICEMAIL))
    assert step.before == RoutingRecord(Override(own, TO_VOICEMAIL, confirmed=False))
    assert step.write == TO_VOICEMAIL
    assert step.after == RoutingRecord(Override(own, TO_VOICEMAIL, confirmed=True))


def test_nothing_to_do_when_the_override_is_in_place() -> None:
    record = RoutingRecord(Override(USER_RINGS, TO_VOICEMAIL, confirmed=True))
    step = plan(record, TO_VOICEMAIL, wanting(TO_VOICEMAIL))
    assert (step.write, step.after) == (None, record)


def test_rule_off_restores_the_saved_routing() -> None:
    own = PbxRouting(forward=Forward(False, "+4930"))
    record = RoutingRecord(Override(own, TO_VOICEMAIL, confirmed=True))
    step = plan(record, TO_VOICEMAIL, wanting(None))
    assert step.write == own
    assert step.after == NO_RECORD


def test_a_user_change_during_the_override_becomes_theirs_and_is_kept() -> None:
    record = RoutingRecord(Override(USER_RINGS, TO_VOICEMAIL, confirmed=True))
    theirs = PbxRouting(forward=Forward(True, "+33600000000"))
    step = plan(record, theirs, wanting(TO_VOICEMAIL))
    assert step.user_changed
    assert step.write is None
    assert step.own == theirs
    # Rule ends: nothing to restore, theirs stays.
    assert plan(step.after, theirs, wanting(None)).write is None


def test_a_forward_set_during_our_dnd_is_kept_and_our_dnd_removed() -> None:
    """The user forwards their calls while the component's DND (voicemail) is on: the forward is
    theirs and wins; the DND, still the component's, goes away (it would hide the forward)."""
    record = RoutingRecord(Override(USER_RINGS, TO_VOICEMAIL, confirmed=True))
    theirs = Forward(True, "+33600000000")
    step = plan(record, PbxRouting(dnd=True, forward=theirs), wanting(TO_VOICEMAIL))
    assert step.user_changed
    assert step.write == PbxRouting(dnd=False, forward=theirs)
    assert step.after == NO_RECORD


def test_the_user_turning_our_dnd_off_is_not_undone_while_the_rule_lasts() -> None:
    record = RoutingRecord(Override(USER_RINGS, TO_VOICEMAIL, confirmed=True))
    step = plan(record, USER_RINGS, wanting(TO_VOICEMAIL))
    assert step.write is None
    again = plan(step.after, USER_RINGS, wanting(TO_VOICEMAIL))
    assert again.write is None
    # A different rule target later is applied.
    mobile = PbxRouting(forward=Forward(True, "1002"))
    assert plan(again.after, USER_RINGS, wanting(mobile)).write == mobile


def test_a_write_cut_short_is_finished_from_the_saved_routing() -> None:
    own = PbxRouting(forward=Forward(True, "+4930"))
    half = PbxRouting(dnd=True, forward=Forward(True, "+4930"))  # DND written, forward not yet
    record = RoutingRecord(Override(USER_RINGS, TO_VOICEMAIL, confirmed=False))
    assert plan(record, half, wanting(TO_VOICEMAIL)).write == TO_VOICEMAIL
    assert plan(record, half, wanting(None)).write == USER_RINGS
    del own


# --- property ------------------------------------------------------------------------------------

routings = st.builds(
    PbxRouting,
    dnd=st.booleans(),
    forward=st.builds(Forward, st.booleans(), st.sampled_from([None, "+4930123", "1003"])),
)
targets = st.sampled_from(
    [
        NOWHERE,
        CallTarget(Target.VOICEMAIL),
        CallTarget(Target.NUMBER, "+33123"),
        CallTarget(Target.NUMBER, "1002"),
    ]
)
forwards = st.builds(Forward, st.booleans(), st.sampled_from([None, "+4930123", "1003"]))
actions = st.one_of(
    st.tuples(st.just("rules"), st.booleans(), st.booleans()),
    st.tuples(st.just("user-dnd"), st.booleans()),
    st.tuples(st.just("user-forward"), forwards),
    st.tuples(st.just("crash"), st.sampled_from(["before-write", "after-write"])),
)


@dataclass
class World:
    pbx: PbxRouting
    own: PbxRouting  # what the user last chose themselves
    settings: RuleSettings
    busy: bool = False
    chat_dnd: bool = False
    record: RoutingRecord = field(default_factory=RoutingRecord)

    def desired(self, own: PbxRouting) -> PbxRouting:
        return decide(
            RuleInputs(
                settings=self.settings,
                busy=(Interval(NOW - timedelta(hours=1), NOW + timedelta(hours=1)),) if self.busy else (),
                chat=ImShow.DND if self.chat_dnd else ImShow.AVAILABLE,
                own=own,
                has_voicemail=True,
                now=NOW,
            )
        ).routing

    def reconcile(self, crash: str | None = None) -> None:
        step = plan(self.record, self.pbx, self.desired)
        self.record = step.before
        if crash == "before-write":
            return
        if step.write is not None:
            self.pbx = step.write
        if crash == "after-write":
            return
        self.record = step.after


@settings(max_examples=400, deadline=None)
@given(
    own=routings,
    meeting=targets,
    dnd=targets,
    steps=st.lists(actions, max_size=12),
)
def test_once_every_rule_is_off_the_users_own_routing_is_back(
    own: PbxRouting, meeting: CallTarget, dnd: CallTarget, steps: list[tuple[object, ...]]
) -> None:
    world = World(pbx=own, own=own, settings=RuleSettings(meeting_calls=meeting, dnd_calls=dnd))
    world.reconcile()
    for action in steps:
        if action[0] == "rules":
            world.busy, world.chat_dnd = bool(action[1]), bool(action[2])
            world.reconcile()
        elif action[0] in ("user-dnd", "user-forward"):
            # The user changes one thing on the phone: DND, or the forward.
            field = "dnd" if action[0] == "user-dnd" else "forward"
            value = action[1]
            pending = world.record.override
            # Not observable (see rules.reconcile): setting what is already there, or exactly
            # the value of the component's own unfinished write.
            if getattr(world.pbx, field) == value or (
                pending is not None and getattr(pending.target, field) == value
            ):
                continue
            world.pbx = replace(world.pbx, **{field: value})
            world.own = replace(world.own, **{field: value})
            world.reconcile()
        else:
            world.reconcile(crash=str(action[1]))
    world.busy = world.chat_dnd = False
    world.reconcile()  # the restart after a crash, or the pass after the last rule change
    assert world.pbx == world.own
    assert world.record == NO_RECORD
