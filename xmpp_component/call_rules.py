"""The rules at work: feeds the engine (:mod:`rules.engine`) and applies its decisions.

Per user: the calendar's busy intervals, their chat show and their settings go in; the "In a
meeting" flag goes to the hub, a timer is set for the next start or end of a meeting, and the
call routing is reconciled with Wazo (confd DND and unconditional forward) through the plan of
:mod:`rules.reconcile`, with the record persisted before and after each write. One pass per user
at a time; a Wazo failure is retried with backoff.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

from presence.backoff import Backoff
from presence.hub import PresenceHub
from presence.identity import People, Person
from presence.model import ImShow
from presence.sources.wazo.client import WazoClient
from presence.sources.wazo.confd import Forward as WazoForward
from presence.sources.wazo.confd import ForwardKind
from presence.sources.wazo.errors import WazoError, WazoShapeError
from rules.engine import ROUTING_TABLE, Decision, RuleInputs, decide
from rules.model import Forward, Interval, PbxRouting, Target
from rules.reconcile import NO_RECORD, Override, RoutingRecord, plan
from store import StateStore
from xmpp_component.commands.base import Requester
from xmpp_component.user_settings import UserSettings

log = logging.getLogger(__name__)


class NotConnected(Exception):
    pass


BOUNDARY_MARGIN = 0.01  # s after a boundary: the interval test is start <= now < end
# After a start (a restart, the standby taking over), the longest wait for a user's first calendar
# read before the routing of ours on their PBX is judged without their meetings.
CALENDAR_FIRST_READ_WAIT = 30.0


def _routing_json(routing: PbxRouting) -> dict[str, Any]:
    return {"dnd": routing.dnd, "forward": [routing.forward.enabled, routing.forward.destination]}


def _routing_from(data: Any) -> PbxRouting:
    enabled, destination = data["forward"]
    return PbxRouting(bool(data["dnd"]), Forward(bool(enabled), destination))


def record_to_json(record: RoutingRecord) -> str | None:
    if record == NO_RECORD:
        return None
    override = record.override
    return json.dumps(
        {
            "override": None
            if override is None
            else {
                "own": _routing_json(override.own),
                "target": _routing_json(override.target),
                "confirmed": override.confirmed,
            },
            "yielded": None if record.yielded is None else _routing_json(record.yielded),
        }
    )


def record_from_json(text: str) -> RoutingRecord:
    data = json.loads(text)
    override = data.get("override")
    yielded = data.get("yielded")
    return RoutingRecord(
        None
        if override is None
        else Override(
            _routing_from(override["own"]), _routing_from(override["target"]), bool(override["confirmed"])
        ),
        None if yielded is None else _routing_from(yielded),
    )


class CallRules:
    def __init__(
        self,
        hub: PresenceHub,
        settings: UserSettings,
        store: StateStore,
        people: Callable[[], People],
        wazo: Callable[[], WazoClient | None],
        tz: tzinfo = UTC,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._hub = hub
        self._settings = settings
        self._store = store
        self._people = people
        self._wazo = wazo
        self._tz = tz
        self._now = now
        self._intervals: dict[str, tuple[Interval, ...]] = {}  # Wazo uuid → busy intervals
        self._records: dict[str, RoutingRecord] = {}  # Wazo uuid → record
        self._decisions: dict[str, Decision] = {}  # Wazo uuid → last decision
        self._shows: dict[str, ImShow] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._retries: dict[str, Backoff] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._calendar_deadline: float | None = None  # loop time; see hold_until_calendar_read
        self._closed = False
        hub.add_listener(self._on_presence)

    def hold_until_calendar_read(self, timeout: float = CALENDAR_FIRST_READ_WAIT) -> None:
        """Calendars are watched: until a user's calendar was read once (or ``timeout`` passed),
        leave alone what the rules have on their PBX. Started during a meeting, the rules would
        otherwise see no meeting, give the user's own routing back, and divert again a moment
        later when the calendar arrives (a call in between going to the wrong place)."""
        self._calendar_deadline = asyncio.get_running_loop().time() + timeout

    async def load(self) -> None:
        for uuid, text in (await self._store.all_call_routing()).items():
            try:
                self._records[uuid] = record_from_json(text)
            except (ValueError, KeyError, TypeError):
                log.error("call routing record of %s is malformed; ignored (kept as it is)", uuid)

    def record(self, user_uuid: str) -> RoutingRecord:
        """What the rules have on the user's PBX routing (NO_RECORD: nothing)."""
        return self._records.get(user_uuid, NO_RECORD)

    def close(self) -> None:
        self._closed = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()

    # --- inputs --------------------------------------------------------------------------------

    def on_intervals(self, user_uuid: str, intervals: tuple[Interval, ...]) -> None:
        self._intervals[user_uuid] = intervals
        self.evaluate(user_uuid)

    def on_settings_change(self, user_uuid: str) -> None:
        self.evaluate(user_uuid)

    def on_pbx_change(self, user_uuid: str) -> None:
        """A DND or forward event from Wazo: a pass when the rules have something on the PBX."""
        person = self._people().by_uuid.get(user_uuid)
        if person is None:
            return
        if user_uuid not in self._records:
            self._hub.apply_explicit_dnd(user_uuid, None)  # the PBX's DND is the user's
        self.evaluate(user_uuid)

    def _on_presence(self, user_uuid: str, _presence: Any) -> None:
        show = self._hub.im(user_uuid).show
        if self._shows.get(user_uuid) != show:
            self._shows[user_uuid] = show
            if user_uuid in self._decisions or show is ImShow.DND:
                self.evaluate(user_uuid)

    def on_people(self) -> list[str]:
        """After a read of Wazo's users: decide now for the users whose *presence* a decision may
        change (restores what a restart left over); return the others, for :meth:`decide_later`.

        A decision changes the presence in two ways only: the DND of a routing record is ours
        (``apply_explicit_dnd``, users with a record) and the "in a meeting" flag (needs busy
        intervals: users whose calendar was read). For everyone else it sets nothing in the hub,
        so deciding for them can wait until the first presences went out: at 50,000 users it took
        ~0.7 s of the start, before any presence was sent (a rule for them, e.g. on chat DND,
        reaches their PBX that much later).
        """
        later = []
        for user_uuid in self._people().by_uuid:
            if user_uuid in self._records or user_uuid in self._intervals:
                self.evaluate(user_uuid)
            else:
                later.append(user_uuid)
        return later

    async def decide_later(self, user_uuids: list[str], batch: int = 500) -> None:
        """Decide for users left by :meth:`on_people`, yielding to the event loop between batches
        (the resend goes on meanwhile). Deciding twice is harmless: a later read decides again."""
        for start in range(0, len(user_uuids), batch):
            if self._closed:
                return  # stopping: no pass or timer may start now
            for user_uuid in user_uuids[start : start + batch]:
                self.evaluate(user_uuid)
            await asyncio.sleep(0)

    # --- deciding ------------------------------------------------------------------------------

    def _inputs(self, person: Person, own: PbxRouting, has_voicemail: bool) -> RuleInputs:
        return RuleInputs(
            settings=self._settings.call_rules(person.wazo_uuid),
            busy=self._intervals.get(person.wazo_uuid, ()),
            chat=self._hub.im(person.wazo_uuid).show,
            own=own,
            has_voicemail=has_voicemail,
            now=self._now(),
        )

    def evaluate(self, user_uuid: str) -> None:
        person = self._people().by_uuid.get(user_uuid)
        if person is None:
            return
        record = self._records.get(person.wazo_uuid, NO_RECORD)
        if self._waiting_for_calendar(user_uuid, record):
            return  # evaluated again by on_intervals, or at the deadline
        if record.override is not None:
            # E.g. after a restart, before the first pass: the DND on the PBX may be ours.
            self._hub.apply_explicit_dnd(user_uuid, record.override.own.dnd)
        # The user's own routing is not known without asking Wazo; for the flag and for knowing
        # whether a rule applies at all, assume it diverts nothing (the pass asks Wazo).
        decision = decide(self._inputs(person, PbxRouting(), has_voicemail=True))
        self._decisions[user_uuid] = decision
        self._hub.apply_calendar(user_uuid, decision.calendar)
        self._schedule(user_uuid, decision.next_change)
        if decision.overrides or record != NO_RECORD:
            self._start_pass(person)

    def _waiting_for_calendar(self, user_uuid: str, record: RoutingRecord) -> bool:
        deadline = self._calendar_deadline
        if deadline is None or record == NO_RECORD or user_uuid in self._intervals:
            return False
        loop = asyncio.get_running_loop()
        if loop.time() >= deadline:
            return False
        if user_uuid not in self._timers:
            self._timers[user_uuid] = loop.call_at(deadline + BOUNDARY_MARGIN, self.evaluate, user_uuid)
        return True

    def _schedule(self, user_uuid: str, when: datetime | None) -> None:
        old = self._timers.pop(user_uuid, None)
        if old is not None:
            old.cancel()
        if when is None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, (when - self._now()).total_seconds()) + BOUNDARY_MARGIN
        self._timers[user_uuid] = loop.call_later(delay, self.evaluate, user_uuid)

    # --- applying ------------------------------------------------------------------------------

    def _start_pass(self, person: Person) -> None:
        task = asyncio.get_running_loop().create_task(self._pass(person))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pass(self, person: Person) -> None:
        lock = self._locks.setdefault(person.wazo_uuid, asyncio.Lock())
        async with lock:
            try:
                await self._reconcile(person)
            except (WazoError, WazoShapeError, NotConnected) as error:
                retry = self._retries.setdefault(person.wazo_uuid, Backoff(1.0, 60.0))
                delay = retry.next_delay()
                log.warning(
                    "call routing of %s not applied (%s); retrying in %.1f s", person.localpart, error, delay
                )
                asyncio.get_running_loop().call_later(delay, self.evaluate, person.wazo_uuid)
                return
            except Exception:
                # Never a silent death: the record in the store says where the pass stopped,
                # and the next evaluation (boundary, event, settings) starts from there.
                log.exception("call routing pass of %s failed", person.localpart)
                return
        self._retries.pop(person.wazo_uuid, None)

    async def _reconcile(self, person: Person) -> None:
        wazo = self._wazo()
        if wazo is None:
            raise NotConnected("Wazo is not connected")
        uuid = person.wazo_uuid
        user = await wazo.confd.get_user(uuid)
        dnd = await wazo.confd.get_dnd(uuid)
        forward = (await wazo.confd.get_forwards(uuid)).get(ForwardKind.UNCONDITIONAL)
        observed = PbxRouting(dnd, Forward(forward.enabled, forward.destination))
        record = self._records.get(uuid, NO_RECORD)
        step = plan(
            record,
            observed,
            lambda own: decide(self._inputs(person, own, user.has_voicemail)).routing,
        )
        if step.user_changed:
            log.info("%s changed their call routing during a rule: it is theirs now", person.localpart)
        await self._keep(uuid, step.before)
        if step.before.override is not None:
            # The PBX's DND may be the component's: watchers see the user's own DND only.
            self._hub.apply_explicit_dnd(uuid, step.before.override.own.dnd)
        if step.write is not None:
            await self._write(wazo, uuid, observed, step.write)
            log.info(
                "call routing of %s: %s",
                person.localpart,
                "restored" if step.after == NO_RECORD else "set for a rule",
            )
        await self._keep(uuid, step.after)
        if step.after.override is not None:
            self._hub.apply_explicit_dnd(uuid, step.after.override.own.dnd)
        elif step.write is None:
            self._hub.apply_explicit_dnd(uuid, None)
        # After a restore the PBX's DND event is still on its way: the hub keeps the user's own
        # value until that event arrives (on_pbx_change), so watchers never see the component's
        # DND as "Do not disturb", not even for a moment.

    async def _write(self, wazo: WazoClient, uuid: str, observed: PbxRouting, target: PbxRouting) -> None:
        # Forward first when turning DND off and the forward on, DND first otherwise: calls never
        # ring the user in between only because of the order.
        if target.forward != observed.forward:
            await wazo.confd.set_forward(
                uuid,
                ForwardKind.UNCONDITIONAL,
                WazoForward(target.forward.enabled, target.forward.destination),
            )
        if target.dnd != observed.dnd:
            await wazo.confd.set_dnd(uuid, target.dnd)

    async def _keep(self, uuid: str, record: RoutingRecord) -> None:
        if self._records.get(uuid, NO_RECORD) == record:
            return
        await self._store.save_call_routing(uuid, record_to_json(record))
        if record == NO_RECORD:
            self._records.pop(uuid, None)
        else:
            self._records[uuid] = record

    # --- what the Settings command shows -----------------------------------------------------------

    def situation(self, requester: Requester) -> str:
        person = requester.person
        if person is None:
            return ""
        decision = self._decisions.get(person.wazo_uuid)
        if decision is None:
            decision = decide(self._inputs(person, PbxRouting(), has_voicemail=True))
        record = self._records.get(person.wazo_uuid, NO_RECORD)
        if decision.calendar.busy and decision.calendar.until is not None:
            until = decision.calendar.until.astimezone(self._tz).strftime("%H:%M %Z")
            now = f"Now: in a meeting until {until}"
        else:
            now = "Now: not in a meeting"
        if record.override is None:
            calls = "your calls follow your own phone settings"
        elif record.override.target.dnd:
            calls = "your calls go to voicemail"
        else:
            calls = f"your calls go to {record.override.target.forward.destination}"
        return f"{now}; {calls}."

    # --- what the admin's Explain user shows ---------------------------------------------------------

    def explain(self, user_uuid: str) -> list[tuple[str, str]]:
        """The user's meeting, the rule in force and what the rules did to their routing on Wazo."""
        person = self._people().by_uuid.get(user_uuid)
        if person is None:
            return []
        decision = self._decisions.get(user_uuid)
        if decision is None:
            decision = decide(self._inputs(person, PbxRouting(), has_voicemail=True))
        rows = []
        if decision.calendar.busy and decision.calendar.until is not None:
            meeting = f"in a meeting until {self._local(decision.calendar.until)}"
        else:
            meeting = "not in a meeting"
        periods = len(self._intervals.get(user_uuid, ()))
        if decision.next_change is not None:
            meeting += f"; next change at {self._local(decision.next_change)}"
        rows.append(("Meeting", f"{meeting} ({periods} busy periods known)"))
        row = next(r for r in ROUTING_TABLE if r.name == decision.row)
        rows.append(("Rule in force", f"{row.name}: {row.when}"))
        settings = self._settings.call_rules(user_uuid)
        rows.append(
            (
                "Rule settings",
                f"meetings: {'show In a meeting' if settings.meeting_busy else 'no In a meeting'}, "
                f"calls to {_target_words(settings.meeting_calls.target, settings.meeting_calls.number)}; "
                f"chat DND: calls to {_target_words(settings.dnd_calls.target, settings.dnd_calls.number)}",
            )
        )
        record = self._records.get(user_uuid, NO_RECORD)
        if record.override is not None:
            state = "applied" if record.override.confirmed else "being applied"
            routing = (
                f"set by the rules ({state}): {_routing_words(record.override.target)}; "
                f"the user's own, restored afterwards: {_routing_words(record.override.own)}"
            )
        elif record.yielded is not None:
            routing = (
                "the user's own: they changed it during a rule, so the rule's routing "
                f"({_routing_words(record.yielded)}) is not applied again while that rule holds"
            )
        else:
            routing = "the user's own (the rules changed nothing)"
        rows.append(("Routing on Wazo", routing))
        return rows

    def _local(self, when: datetime) -> str:
        return when.astimezone(self._tz).strftime("%Y-%m-%d %H:%M %Z")


def _target_words(target: Target, number: str) -> str:
    if target is Target.VOICEMAIL:
        return "voicemail"
    if target is Target.NUMBER:
        return number
    return "nowhere (the phone rings)"


def _routing_words(routing: PbxRouting) -> str:
    parts = ["DND on" if routing.dnd else "DND off"]
    if routing.forward.enabled:
        parts.append(f"forward to {routing.forward.destination}")
    else:
        parts.append("no forward")
    return ", ".join(parts)
