"""The call history at the edges: Wazo events in, store rows and chat notices out.

The decisions are :mod:`presence.call_history`'s (pure); this adapter feeds it the Wazo events
with the wall clock, writes each finished call to the store (bounded per user, it survives a
restart or a crash), and sends the chat notices the user's settings ask for:

- incoming call (off by default): "Bob Martin (1002) is calling", as soon as the phone rings;
- missed call (on by default): "Missed call from Bob Martin (1002) at 14:05" with a call-back link.

**Reached voicemail?** calld's ``call_ended`` for the ringing leg says nothing of what the
dialplan does next: when nobody answers, Wazo sends the caller to the user's no-answer fallback
(usually the voicemail), and ``user_voicemail_message_created`` comes only once the caller has
finished speaking and hung up. So for a user who has a voicemail box the missed-call notice waits
``calls.missed_call_wait`` seconds: a voicemail from that caller arriving meanwhile turns the
history entry into a voicemail (the voicemail notice says it) and the missed-call notice is never
sent. A message longer than the wait gives both notices; the history still shows the call once.
Users without a voicemail box get the notice at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import tzinfo

from presence.call_history import (
    ROWS_SHOWN,
    CallHistoryTracker,
    Direction,
    Ended,
    HistoryEntry,
    Outcome,
    Ringing,
    entry_label,
    incoming_call_text,
    match_voicemail,
    missed_call_text,
    who,
)
from presence.identity import People
from presence.model import CallEvent, CallsResynced, PhoneEvent, VoicemailReceived
from presence.phone_numbers import DialInputError, display_number, parse_number
from store import StateStore
from store.api import CallRow
from xmpp_component.commands.links import call_link
from xmpp_component.config import CallsSection
from xmpp_component.user_settings import UserSettings

log = logging.getLogger(__name__)

# Rows read to find the missed call a voicemail message belongs to.
_VOICEMAIL_LOOKBACK = 20
# Voicemail messages whose history row is remembered (their notices are composed just after).
_VOICEMAIL_KEYS_KEPT = 1024

SendChat = Callable[[str, str], None]  # (bare chat JID, body)
Job = Callable[[], Awaitable[None]]
# Ended calls written in one store call at most: those that ended while the previous write was
# being synced to disk (two syncs for the lot instead of two per call).
ENDED_PER_WRITE = 100
# How long the writer waits, after a call ended, for others to end before writing: at a few
# calls a second it writes each alone a few ms later; when many users call at once it writes
# several in one go (a write is a disk sync and its CPU, whatever the rows it holds).
ENDED_GATHER_S = 0.005
# Longest wait at shutdown for the history writes still queued.
CLOSE_TIMEOUT = 5.0


class CallHistory:
    def __init__(
        self,
        store: StateStore,
        settings: UserSettings,
        people: Callable[[], People],
        send: SendChat,
        *,
        component_jid: str,
        calls: Callable[[], CallsSection],
        zone: tzinfo,
        colleague_name: Callable[[str], str] = lambda _number: "",
        has_voicemail: Callable[[str], bool] = lambda _uuid: False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._settings = settings
        self._people = people
        self._send = send
        self._component_jid = component_jid
        self._calls = calls
        self._zone = zone
        self._colleague_name = colleague_name
        self._has_voicemail = has_voicemail
        self._clock = clock
        self._tracker = CallHistoryTracker()
        self._pending: dict[tuple[str, str], asyncio.TimerHandle] = {}  # missed-call notices held
        # Store work runs in order on one task, off the Wazo event path: a write is a disk sync
        # (p99 ~14 ms measured by bench/call_history.py) that the next events need not wait for.
        # A HistoryEntry is a call that ended (its row to write, batched with the ones next to it).
        self._jobs: asyncio.Queue[Job | HistoryEntry] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        # Voicemail message id -> the key of its history row (for the notice's "call back N").
        self._voicemail_keys: OrderedDict[str, str] = OrderedDict()
        self.notices_sent = 0

    # --- events in ---------------------------------------------------------------------------

    async def on_event(self, event: PhoneEvent) -> None:
        if isinstance(event, CallEvent | CallsResynced):
            for decision in self._tracker.apply(event, self._clock()):
                if isinstance(decision, Ringing):
                    self._ringing(decision)
                elif isinstance(decision, Ended):
                    self._later(decision.entry)
        elif isinstance(event, VoicemailReceived):
            self._later(functools.partial(self._voicemail, event))

    def _later(self, job: Job | HistoryEntry) -> None:
        if self._closed:  # the store may be closed too
            log.warning("call history closed: a call event after the shutdown is not recorded")
            return
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="call-history")
        self._jobs.put_nowait(job)

    async def written(self) -> None:
        """Return once every job queued so far is done (a voicemail notice waits for its history
        row, so that the ``call back 1`` it offers already names that caller)."""
        if self._closed:
            return
        done = asyncio.get_running_loop().create_future()

        async def mark() -> None:
            done.set_result(None)

        self._later(mark)
        await done

    async def _write_loop(self) -> None:
        carried: Job | HistoryEntry | None = None  # taken from the queue after a run of ended calls
        while True:
            job = carried if carried is not None else await self._jobs.get()
            carried = None
            if isinstance(job, HistoryEntry):
                # The ended calls queued right behind it go in the same write (order kept: a
                # job of another kind waits for them, and runs next).
                entries = [job]
                if self._jobs.empty():
                    await asyncio.sleep(ENDED_GATHER_S)
                while len(entries) < ENDED_PER_WRITE and not self._jobs.empty():
                    following = self._jobs.get_nowait()
                    if not isinstance(following, HistoryEntry):
                        carried = following
                        break
                    entries.append(following)
                try:
                    await self._ended(entries)
                except Exception:
                    log.exception(
                        "call history: a store write failed; %d call(s) missing from the history",
                        len(entries),
                    )
                finally:
                    for _ in entries:
                        self._jobs.task_done()
                continue
            try:
                await job()
            except Exception:
                log.exception("call history: a store write failed; that call is missing from the history")
            finally:
                self._jobs.task_done()

    def _chat_jid(self, user_uuid: str) -> str | None:
        person = self._people().by_uuid.get(user_uuid)
        return person.chat_jid if person is not None else None

    def _ringing(self, ringing: Ringing) -> None:
        jid = self._chat_jid(ringing.user_uuid)
        if jid is None or not self._settings.notices(ringing.user_uuid).incoming_calls:
            return
        self._notify(jid, incoming_call_text(self.party(ringing.name, ringing.number)))

    async def _ended(self, entries: list[HistoryEntry]) -> None:
        # No chat user: nobody could read this history.
        kept = [entry for entry in entries if self._chat_jid(entry.user_uuid) is not None]
        if not kept:
            return
        await self._store.save_calls([_row(entry) for entry in kept], self._calls().history_size)
        for entry in kept:
            if entry.outcome is Outcome.MISSED:
                wait = self._calls().missed_call_wait if self._has_voicemail(entry.user_uuid) else 0.0
                key = (entry.user_uuid, entry.key)
                self._pending[key] = asyncio.get_running_loop().call_later(wait, self._missed, entry)

    async def _voicemail(self, message: VoicemailReceived) -> None:
        if self._chat_jid(message.user_uuid) is None:
            return
        recent = await self.recent(message.user_uuid, _VOICEMAIL_LOOKBACK)
        entry = match_voicemail(message, recent, self._clock())
        await self._save(entry)
        self._voicemail_keys[message.message_id] = entry.key
        while len(self._voicemail_keys) > _VOICEMAIL_KEYS_KEPT:
            self._voicemail_keys.popitem(last=False)
        held = self._pending.pop((entry.user_uuid, entry.key), None)
        if held is not None:
            held.cancel()  # the call reached voicemail: the voicemail notice tells the user
            log.debug("missed-call notice for %s dropped: the caller left a voicemail", entry.user_uuid)

    def _missed(self, entry: HistoryEntry) -> None:
        self._pending.pop((entry.user_uuid, entry.key), None)
        jid = self._chat_jid(entry.user_uuid)
        if jid is None or not self._settings.notices(entry.user_uuid).missed_calls:
            return
        # On the writer's queue: after the rows of calls that ended meanwhile, so the row said is right.
        self._later(functools.partial(self._missed_notice, entry, jid))

    async def _missed_notice(self, entry: HistoryEntry, jid: str) -> None:
        lines = [missed_call_text(entry, self.party(entry.name, entry.number), self._zone)]
        link = self.link(entry.number)
        if link:
            # Its row in Recent calls, as "call back N" numbers them: a call that ended during
            # the wait for a voicemail is newer.
            row = await self.row_of(entry.user_uuid, entry.key)
            lines.append(f"Call back: {link}" + (f"  (or type: call back {row})" if row is not None else ""))
        self._notify(jid, "\n".join(lines))

    def _notify(self, jid: str, body: str) -> None:
        self.notices_sent += 1
        self._send(jid, body)

    async def _save(self, entry: HistoryEntry) -> None:
        await self._store.save_call(_row(entry), self._calls().history_size)

    async def close(self) -> None:
        """Write what is queued (bounded wait), then stop; held notices are dropped."""
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        writer = self._writer
        if writer is None:
            self._closed = True
            return
        # The writer stays in place while the queue drains: an event still arriving meanwhile
        # (the Wazo stream is not stopped yet) joins this queue instead of starting a second
        # writer that nobody would stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._jobs.join()
        self._closed = True
        self._writer = None
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer

    # --- what commands read ------------------------------------------------------------------

    async def voicemail_row(self, user_uuid: str, message_id: str) -> int | None:
        """The row of a voicemail message's call in the user's Recent calls (see :meth:`row_of`)."""
        key = self._voicemail_keys.get(message_id)
        return await self.row_of(user_uuid, key) if key is not None else None

    async def row_of(self, user_uuid: str, key: str) -> int | None:
        """The row (from 1) of the call ``key`` among the user's recent calls as Recent calls
        shows them and ``call back N`` numbers them; None when it is not there (or cannot be
        read now: the notice goes out all the same, without the row)."""
        try:
            entries = await self.recent(user_uuid, ROWS_SHOWN)
        except Exception as error:
            log.warning("call history: cannot read the recent calls (%s)", type(error).__name__)
            return None
        return next((row for row, entry in enumerate(entries, 1) if entry.key == key), None)

    async def recent(self, user_uuid: str, limit: int) -> list[HistoryEntry]:
        """The user's newest ``limit`` calls, newest first."""
        rows = await self._store.recent_calls(user_uuid, limit)
        return [
            HistoryEntry(
                user_uuid=u,
                key=k,
                direction=Direction(d),
                outcome=Outcome(o),
                number=n,
                name=m,
                started_at=t / 1000,
                duration_s=s,
            )
            for u, k, d, o, n, m, t, s in rows
        ]

    def name_of(self, name: str, number: str) -> str:
        """A colleague's name from Wazo's users when the number is theirs, else the name the PBX
        gave. The colleague's name wins: the caller ID name is whatever the calling phone or trunk
        sends ("BROWN B"), and the voicemail notice, resolved through the directory, says "Bob
        Brown": the history must name the same person the same way."""
        colleague = self._colleague_name(number) if number else ""
        if colleague:
            return colleague
        return name if name != number else ""

    def party(self, name: str, number: str) -> str:
        """ "Bob Martin (1002)", "+33 1 23 45 67 89", or "an unknown caller"."""
        calls = self._calls()
        shown = display_number(number, calls.default_region, calls.extension_max_digits) if number else ""
        return who(self.name_of(name, number), shown)

    def label(self, entry: HistoryEntry) -> str:
        return entry_label(entry, self.party(entry.name, entry.number), self._zone)

    def link(self, number: str) -> str:
        """The Call link for a number, or "" when it cannot be dialled (withheld, malformed)."""
        if not number:
            return ""
        calls = self._calls()
        try:
            dial = parse_number(number, calls.default_region, calls.extension_max_digits).dial
        except DialInputError:
            return ""
        return call_link(self._component_jid, dial)


def _row(entry: HistoryEntry) -> CallRow:
    return (
        entry.user_uuid,
        entry.key,
        entry.direction.value,
        entry.outcome.value,
        entry.number,
        entry.name,
        int(entry.started_at * 1000),
        entry.duration_s,
    )
