"""Desired vs applied call routing: what to write on the PBX, and what to remember. Pure.

The component overrides a user's routing only for a rule, and must give back exactly what the user
had. So before its first write it saves the user's own routing (:class:`Override.own`) and, after
each write, what it wrote (:class:`Override.target`). The record is persisted *before* a write
(``confirmed`` False) and again after it succeeded, so a crash at any point is recovered on the
next pass:

- PBX shows our target → the write happened (confirm it);
- PBX differs from a *confirmed* target → the user changed it themselves (on the phone, in Wazo's
  apps): that is their own routing now, and the override they countermanded is not put back
  while it stays the rule's choice (:attr:`RoutingRecord.yielded`);
- PBX differs from an *unconfirmed* target → our write was cut short: go on from the saved own.

One limit follows from reading the PBX state rather than trusting events: a user who sets on the
phone exactly what the component had set (DND on while the component's DND is on) cannot be told
apart from the component's own setting, and gets their previous routing back when the rule ends.
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
            user_changed = True
            yielded = override.target
            override = None
    own = override.own if override is not None else observed
    want = desired(own)
    if want == own:
        # No rule: the user's own routing, restored if ours is still there.
        if override is None or observed == own:
            settled = RoutingRecord()
            return Step(settled, None, settled, own, user_changed)
        restoring = RoutingRecord(Override(own, own, confirmed=False))
        return Step(restoring, own, RoutingRecord(), own, user_changed)
    if override is None and yielded == want:
        kept = RoutingRecord(None, yielded)
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


def component_dnd(record: RoutingRecord) -> bool:
    """The PBX DND is on because of the component, not the user (watchers must not see it as
    the user's own "Do not disturb")."""
    override = record.override
    return override is not None and override.target.dnd and not override.own.dnd
