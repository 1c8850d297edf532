"""Desired vs applied call routing: what to write on the PBX, and what to remember. Pure.

The component overrides a user's routing only for a rule, and must give back exactly what the user
had. So before its first write it saves the user's own routing (:class:`Override.own`) and, after
each write, what it wrote (:class:`Override.target`). The record is persisted *before* a write
(``confirmed`` False) and again after it succeeded, so a crash at any point is recovered on the
next pass:

- PBX shows our target → the write happened (confirm it);
- PBX differs from a *confirmed* target → the user changed it themselves (on the phone, in Wazo's
  apps): each field they changed (DND, forward) is their own now, the fields still as the
  component set them are given back, and the override they countermanded is not put back while
  it stays the rule's choice (:attr:`RoutingRecord.yielded`);
- PBX differs from an *unconfirmed* target → our write was cut short: go on from the saved own.

One limit follows from reading the PBX state rather than trusting events: a user who sets on the
phone exactly what the component had set (DND on while the component's DND is on) changes
nothing that can be seen, and gets their previous value back when the rule ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rules.model import PbxRouting


@dataclass(frozen=True, slots=True)
class Override:
    own: PbxRouting  # the user's routing before the component changed it
    target: PbxRouting  # what the component writes or wrote
    confirmed: bool  # the write of ``target`` completed


@dataclass(frozen=True, slots=True)
class RoutingRecord:
    """What is persisted per user between passes."""

    override: Override | None = None
    yielded: PbxRouting | None = None  # a target the user countermanded; not re-applied while wanted


NO_RECORD = RoutingRecord()


@dataclass(frozen=True, slots=True)
class Step:
    """One pass: persist ``before``, write ``write`` on the PBX (if any), then persist ``after``."""

    before: RoutingRecord
    write: PbxRouting | None
    after: RoutingRecord
    own: PbxRouting  # the user's own routing, as known after this pass
    user_changed: bool  # the pass found that the user changed the PBX during an override


def plan(record: RoutingRecord, observed: PbxRouting, desired: Callable[[PbxRouting], PbxRouting]) -> Step:
    """The next step from the persisted ``record``, the PBX's current routing, and the engine
    (``desired(own)`` is the routing the rules want given the user's own routing)."""
    override = record.override
    yielded = record.yielded
    user_changed = False
    if override is not None:
        if observed == override.target:
            override = Override(override.own, override.target, confirmed=True)
        elif override.confirmed:
            # The user changed some of it: the fields they changed are theirs now; the fields
            # still as the component set them stay the component's, to be given back.
            user_changed = True
            yielded = override.target
            own = _take_changes(override.own, observed, override.target)
            override = None if observed == own else Override(own, observed, confirmed=True)
    own = override.own if override is not None else observed
    want = desired(own)
    if want == own:
        # No rule: the user's own routing, restored if ours is still there.
        if override is None or observed == own:
            settled = RoutingRecord()
            return Step(settled, None, settled, own, user_changed)
        restoring = RoutingRecord(Override(own, own, confirmed=False))
        return Step(restoring, own, RoutingRecord(), own, user_changed)
    if yielded == want:
        kept = RoutingRecord(override, yielded)
        return Step(kept, None, kept, own, user_changed)
    if override is not None and override.target == want and observed == want:
        kept = RoutingRecord(override)
        return Step(kept, None, kept, own, user_changed)
    return Step(
        RoutingRecord(Override(own, want, confirmed=False)),
        want,
        RoutingRecord(Override(own, want, confirmed=True)),
        own,
        user_changed,
    )


def _take_changes(own: PbxRouting, observed: PbxRouting, target: PbxRouting) -> PbxRouting:
    """``own`` with each field the user changed away from ``target`` taken from ``observed``."""
    return PbxRouting(
        dnd=observed.dnd if observed.dnd != target.dnd else own.dnd,
        forward=observed.forward if observed.forward != target.forward else own.forward,
    )
