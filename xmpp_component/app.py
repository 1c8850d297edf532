"""Wiring: builds every part from a Config and runs until stopped.

Data flows one way: Wazo events -> tracker -> hub; chat presence -> hub; hub changes ->
publisher -> subscribers. The app only connects the parts and owns their life-cycle.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from slixmpp import JID

from presence.backoff import Backoff
from presence.chat_sessions import ChatSessions
from presence.directory import DirectoryEntry
from presence.directory.address_book import COMPANY_BOOK
from presence.directory.wazo_users import entries_of
from presence.hub import PresenceHub
from presence.identity import MappingProblem, MatchRule, PbxUser, People, build_people
from presence.model import (
    Call,
    CallsResynced,
    DndChanged,
    ForwardChanged,
    ImState,
    PhoneEvent,
    UsersChanged,
    VoicemailReceived,
)
from presence.phone_numbers import DialInputError, parse_number
from presence.privacy import PrivacyPolicy
from presence.source_stats import SourceActivity
from presence.sources.dav_names import is_single_segment
from presence.sources.wazo.client import WazoClient
from presence.sources.wazo.confd import WazoUser
from presence.sources.wazo.config import Secret, WazoSettings
from presence.sources.wazo.errors import WazoError
from presence.sources.wazo.tenants import SeveralTenants, check_single_tenant
from presence.sources.wazo.tracker import PhoneStateTracker
from presence.voicemail_links import LinkSigner
from presence.waiting import wait_event
from store import StateStore, open_store
from store.api import WazoUserRow
from store.postgres import PostgresStore
from xmpp_component.admin_ops import AdminOps
from xmpp_component.call_history import CallHistory
from xmpp_component.call_rules import CallRules
from xmpp_component.commands import install_commands
from xmpp_component.commands.contact import ContactCommands
from xmpp_component.component import PhoneComponent
from xmpp_component.config import Config
from xmpp_component.connection import ConnectionSupervisor
from xmpp_component.directory_sources import address_book_sync, set_address_book_users
from xmpp_component.im_presence import BARRIER_TIMEOUT, ImPresenceIntake
from xmpp_component.ops import Metrics, OpsServer, PublishLatency
from xmpp_component.pair import PairMember
from xmpp_component.phone_jids import PhoneJidService
from xmpp_component.phone_vcards import PhoneVCards
from xmpp_component.publisher import Publisher
from xmpp_component.rosters import RosterSync
from xmpp_component.subscriptions import PhoneSubscriptions
from xmpp_component.user_refresh import UserRefresher
from xmpp_component.user_settings import UserSettings
from xmpp_component.voicemail_http import VoicemailHttpServer
from xmpp_component.voicemail_notices import VoicemailNotices

if TYPE_CHECKING:
    from presence.sources.calendar.watcher import CalendarWatcher

log = logging.getLogger(__name__)

ShutdownHook = Callable[[], Awaitable[None]]
# Longest wait for Wazo's users and states before subscribers get the presence known so far.
# Reading 50,000 users takes 10-15 s on a busy 2-core machine: a shorter bound fired during the
# read, every watcher then got everyone without phone state (offline watchers too, their chat
# presence not learnt yet) and the correction right after, twice the stanzas of a start.
INITIAL_PUBLISH_WAIT = 30.0
# Longest wait at shutdown for the unavailable presences to leave the socket.
SHUTDOWN_DRAIN_TIMEOUT = 30.0
# After a confd user event, wait this long for the rest of a burst (a bulk import) before reading.
USER_EVENTS_SETTLE = 0.5


def user_domains(config: Config) -> tuple[str, ...]:
    """The chat domains served; by default the component's parent (phone.example.org -> example.org)."""
    if config.component.user_domains:
        return tuple(d.lower() for d in config.component.user_domains)
    return (config.component.jid.split(".", 1)[-1].lower(),)


def wazo_settings(config: Config) -> WazoSettings:
    assert config.wazo_password is not None  # parse_config requires it when Wazo is enabled
    return WazoSettings(
        base_url=config.wazo.base_url,
        username=config.wazo.username,
        password=config.wazo_password,
        tenant_uuid=config.wazo.tenant_uuid or None,
        verify_tls=config.wazo.verify_tls,
        ca_file=config.wazo.ca_file or None,
        token_expiration_s=config.wazo.token_expiration,
        request_timeout_s=config.wazo.request_timeout,
        calls_reconcile_interval_s=config.wazo.calls_reconcile_interval,
    )


def _reveal(secret: Secret | None) -> str | None:
    return secret.reveal() if secret is not None else None


def freeze_long_lived() -> None:
    """Move every object alive now out of the cyclic GC's reach (``gc.freeze``).

    After a load of users or address books, the heap holds tens of thousands of long-lived
    objects; each full collection then walks them all, and one lands in the middle of a request
    now and then (measured: directory searches at p99 88-110 ms instead of 24-27 ms, the LDAP
    client's decoding triggering the collections). Reference counting still frees them when they
    are dropped; only cycles among them would stay until exit.
    """
    gc.freeze()


# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms). The
# blocking libraries (ldap3's decoding, the CalDAV reader, SQLite) run in worker threads; each
# time the event loop wakes while one of them runs, it waited up to that long, several times per
# presence: p99 18.7 ms at 500 changes/s with 10 directory searches/s (2.9 ms without), 11.4 ms
# with 1 ms, 10.0 ms with 0.5 ms (bench.latency_search, 3 runs each, one after another).
GIL_SWITCH_INTERVAL_S = 0.0005


def favour_the_event_loop() -> None:
    """Let the event loop take the GIL back from a worker thread within GIL_SWITCH_INTERVAL_S.
    Without a thread wanting it, the interval costs nothing; with one, a switch costs a few µs."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


class App:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.domains = user_domains(config)
        self.store: StateStore | None = None
        self.xmpp: PhoneComponent | None = None
        self.supervisor: ConnectionSupervisor | None = None
        self.hub = PresenceHub()
        self.tracker = PhoneStateTracker()
        self.people = People()  # as this run's last read of Wazo's users gave them
        # Whose presence is served: the people above, or before this run's first read, the copy
        # of the previous run's last read (see serve_last_read). Only the presence path uses it.
        self.presence_people = People()
        # The stored copy of the last read, as rows: a read that changed nothing writes nothing.
        self._directory_rows: list[WazoUserRow] = []
        self.wazo: WazoClient | None = None
        self.subscriptions: PhoneSubscriptions | None = None
        self.publisher: Publisher | None = None
        self.intake: ImPresenceIntake | None = None
        self.rosters: RosterSync | None = None
        self.phone_jids: PhoneJidService | None = None
        self.pbx_users: dict[str, WazoUser] = {}  # uuid -> the user as last read (names, numbers)
        # (dialling rules, canonical number -> colleague's name), from pbx_users; None after a read.
        self._names_by_number: tuple[tuple[str, int], dict[str, str]] | None = None
        # Users Wazo said changed since they were last read (uuid -> change count then; "" for a
        # change naming nobody, which makes every user's copy stale): commands read those afresh.
        self._users_changes = 0
        self._users_stale: dict[str, int] = {}
        # When (time.monotonic()) the read of the users running now began, with the change count
        # then; and when the last successful one began. A reconnected event stream needs a new
        # read only if none began after it subscribed (see _users_after_reconnect).
        self._reading: tuple[float, int] | None = None
        self._read_since: float | None = None
        self.provisioned = asyncio.Event()  # set after the first successful read of Wazo's users
        # Reads Wazo's users: at start, on confd's user events, after a reconnection, periodically.
        self.users = UserRefresher(
            self.provision, interval=config.wazo.users_refresh_interval, backoff=Backoff(1.0, 60.0)
        )
        self._wazo_resynced = False  # the event stream has read every user's phone state once
        self._stop_requested = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self.started = asyncio.Event()
        self.fatal: str | None = None  # why the app stopped itself (the CLI exits with status 2)
        # Run while the stream is still up at shutdown, e.g. to tell subscribers we are leaving.
        self.shutdown_hooks: list[ShutdownHook] = []
        # Run last at shutdown, after the background tasks stopped (HTTP sessions...).
        self.shutdown_closers: list[ShutdownHook] = []
        # For the administrators' commands (and the ops endpoint): what they report.
        self.unmatched: list[MappingProblem] = []  # Wazo users left without a phone JID, and why
        self.last_event_at: float | None = None  # loop time of the last Wazo event
        self.admin = AdminOps(self)
        self.metrics = Metrics()
        # What each directory and calendar source did, for Status and /metrics.
        self.sources = SourceActivity()
        self.sources.listener = self.metrics.source_done
        self._latency = PublishLatency(self.metrics.event_to_publish)
        self.ops: OpsServer | None = None
        # The voicemail "listen" links' listener ([http]); None when disabled.
        self.voicemail_http: VoicemailHttpServer | None = None
        # With a PostgreSQL store: one of an active/standby pair (xmpp_component/pair.py).
        self.pair: PairMember | None = None
        self.lost_lock = False  # stopped because the active lock's session was lost (exit 3)

    @property
    def role(self) -> str:
        """ "standby", "active" (of a pair) or "single" (SQLite: nothing to share)."""
        return self.pair.role if self.pair is not None else "single"

    def request_stop(self) -> None:
        self._stop_requested.set()

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._background.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A background task must never die unnoticed: say which one and why.
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    # --- construction ------------------------------------------------------------------------------

    async def _build(self) -> None:
        cfg = self.config
        if self.store is None:  # an instance of an active/standby pair opened it to wait for the lock
            self.store = await open_store(cfg.store.path, cfg.store.url, _reveal(cfg.store_password))
        self.xmpp = xmpp = PhoneComponent(
            cfg.component.jid,
            cfg.component_secret.reveal(),
            cfg.component.server_host,
            cfg.component.server_port,
        )
        self.supervisor = ConnectionSupervisor(
            xmpp,
            cfg.component.server_host,
            cfg.component.server_port,
            Backoff(cfg.component.reconnect_min_delay, cfg.component.reconnect_max_delay),
            # The users' domain is served by the server we connect to: it answers a ping itself.
            ping_target=self.domains[0],
            keepalive_interval=cfg.component.keepalive_interval,
            keepalive_timeout=cfg.component.keepalive_timeout,
        )
        self.subscriptions = PhoneSubscriptions(self.store)
        await self.subscriptions.load()
        supervisor = self.supervisor
        # Who is online in chat: learnt by the intake, read by the publisher (one record).
        self.chat_sessions = ChatSessions()
        self.publisher = Publisher(
            xmpp, self.hub, self.subscriptions, supervisor.online.is_set, self.chat_sessions
        )
        supervisor.on_ping_sent, supervisor.on_pong = self.publisher.checkpoint, self.publisher.delivered
        self.hub.add_listener(self._latency.on_change)  # after the publisher's: times its flush
        if cfg.wazo.enabled:  # first publish_all once the phone state is known (see _phone_state_known)
            self.publisher.hold(INITIAL_PUBLISH_WAIT)
        policy = PrivacyPolicy(
            local_domains=frozenset(self.domains),
            allowed_remote_domains=frozenset(d.lower() for d in cfg.presence.allow_remote_domains),
            allowed_remote_jids=frozenset(j.lower() for j in cfg.presence.allow_remote_jids),
        )
        self.settings = UserSettings(self.store)
        await self.settings.load()
        self.rosters = RosterSync(
            xmpp,
            self.store,
            lambda: self.people,
            self.subscriptions,
            policy,
            self.settings.privacy,
            self.domains,
            colleagues=cfg.presence.roster_colleagues,
            group=cfg.presence.roster_group,
            on_subscribed=self._greet_subscriber,
        )
        self.intake = ImPresenceIntake(
            xmpp,
            self.store,
            self.hub,
            lambda: self.presence_people,
            self.subscriptions,
            self.domains,
            privilege_grace=cfg.presence.privilege_grace,
            rosters=self.rosters,
            sessions=self.chat_sessions,
        )
        await self.intake.load()
        self.phone_jids = PhoneJidService(
            xmpp,
            lambda: self.presence_people,
            self.subscriptions,
            self.publisher,
            policy,
            self.settings.privacy,
            # Without Wazo nobody will ever be known: nothing to wait for.
            lambda: self.provisioned.is_set() or not cfg.wazo.enabled,
            max_revocation_share=cfg.presence.max_revocation_share,
        )
        self.settings.on_privacy_change = self._privacy_changed
        self.phone_vcards = PhoneVCards(
            xmpp, lambda: self.people, self.pbx_users.get, self.phone_jids.may_see, cfg.directory.wazo_mobiles
        )
        xmpp.add_event_handler("session_start", self._on_session_start)
        xmpp.add_event_handler("privileges_advertised", self._on_privileges)
        xmpp.add_event_handler("presence", self._route_presence)
        self.shutdown_hooks.append(self._say_goodbye)
        self.history = CallHistory(
            self.store,
            self.settings,
            lambda: self.people,
            self._send_notice,
            component_jid=cfg.component.jid,
            calls=lambda: self.config.calls,
            zone=ZoneInfo(cfg.calendar.timezone),
            colleague_name=self._colleague_name,
            has_voicemail=lambda uuid: (user := self.pbx_users.get(uuid)) is not None and user.has_voicemail,
        )
        if cfg.http.enabled and cfg.http_link_key is not None:
            signer = LinkSigner(cfg.http_link_key.reveal().encode(), cfg.http.link_lifetime)
            self.voicemail_http = VoicemailHttpServer(cfg.http, signer, lambda: self.wazo)
        # Click-to-call commands (XEP-0050 + chat text); they re-register at every session start.
        self.commands = install_commands(
            xmpp,
            cfg,
            self.domains,
            lambda: self.people,
            lambda: self.wazo,
            self.hub,
            self.settings,
            policy,
            self.phone_jids,
            admin=self.admin,
            on_command=self.metrics.command_started,
            on_origination=self.metrics.origination,
            history=self.history,
        )
        if self.voicemail_http is not None:
            self.commands.services.voicemail_link = self.voicemail_http.link
        self.commands.services.tracked_calls = self._tracked_calls
        self.commands.services.known_pbx_user = self._known_pbx_user
        self.commands.services.zone = ZoneInfo(cfg.calendar.timezone)
        self.voicemail_notices = VoicemailNotices(
            xmpp,
            cfg.component.jid,
            lambda: self.people,
            self.commands.services.directory,
            lambda: self.commands.services.calls,
            self.voicemail_http.link if self.voicemail_http is not None else None,
            ZoneInfo(cfg.calendar.timezone),
        )
        self._build_call_rules()
        self._watch_sources()
        self.contact_commands = ContactCommands(
            self.commands.adhoc, self._contact_entries, self.phone_jids.may_see, self.commands.chat.flood
        )
        assert self.commands.address_books is not None
        self.address_book_sync = address_book_sync(cfg, self.store, self.commands.address_books)
        if self.address_book_sync is not None:
            self.address_book_sync.on_round = freeze_long_lived
            self.address_book_sync.on_sync = self._address_book_synced
            for book in ("company", "personal"):
                self.metrics.source_known(book, "sync")

    def _watch_sources(self) -> None:
        """Every directory search and calendar poll is counted per source (Status, /metrics)."""
        directory = self.commands.services.directory
        directory.on_source_done = lambda name, seconds, error: self.sources.record(
            name, "search", seconds, error
        )
        for source in directory.sources:
            self.metrics.source_known(source.name, "search")
        if self.calendar is not None:
            self.calendar.on_poll = lambda seconds, error: self.sources.record(
                "calendar", "poll", seconds, error
            )
            self.metrics.source_known("calendar", "poll")

    def _address_book_synced(self, book: str, seconds: float, error: str | None) -> None:
        source = "company" if book == COMPANY_BOOK else "personal"
        self.sources.record(source, "sync", seconds, error)

    def _contact_entries(self, localpart: str) -> list[DirectoryEntry]:
        """A colleague's numbers, for the commands and card of their phone JID."""
        person = self.people.by_localpart.get(localpart)
        user = self.pbx_users.get(person.wazo_uuid) if person is not None else None
        return entries_of(user, self.config.directory.wazo_mobiles) if user is not None else []

    def _colleague_name(self, number: str) -> str:
        """The Wazo user with this extension or mobile number (compared in E.164: 06 12 34 56 78
        is +33612345678 in FR), for a call event that carries no name."""
        calls = self.config.calls

        def canonical(text: str) -> str:
            try:
                return parse_number(text, calls.default_region, calls.extension_max_digits).dial
            except DialInputError:
                return text

        # Built once per read of the users (and dialling rules): this runs for every call notice and
        # every row of a Recent calls listing, and parsing every colleague's numbers each time
        # costs seconds at 10,000 users.
        key = (calls.default_region, calls.extension_max_digits)
        if self._names_by_number is None or self._names_by_number[0] != key:
            names: dict[str, str] = {}
            for user in self.pbx_users.values():
                numbers = [extension.exten for line in user.lines for extension in line.extensions]
                if user.mobile_phone_number:
                    numbers.append(user.mobile_phone_number)
                for candidate in numbers:
                    names.setdefault(canonical(candidate), user.display_name)
            self._names_by_number = (key, names)
        return self._names_by_number[1].get(canonical(number), "")

    def _send_notice(self, chat_jid: str, body: str) -> None:
        """A call notice from the component's own JID; lost if the component is not connected."""
        xmpp, supervisor = self.xmpp, self.supervisor
        if xmpp is None or supervisor is None or not supervisor.online.is_set():
            log.info("call notice for %s not sent: not connected to the XMPP server", chat_jid)
            return
        xmpp.send_message(mto=JID(chat_jid), mbody=body, mtype="chat", mfrom=xmpp.boundjid)

    def _build_call_rules(self) -> None:
        """Meetings (CalDAV) and the chat DND drive the call routing (the Settings command)."""
        assert self.store is not None
        cal = self.config.calendar
        self.call_rules = CallRules(
            self.hub,
            self.settings,
            self.store,
            lambda: self.people,
            lambda: self.wazo,
            ZoneInfo(cal.timezone),
        )
        self.settings.on_call_rules_change = self.call_rules.on_settings_change
        self.commands.services.situation = self.call_rules.situation
        self.calendar: CalendarWatcher | None = None
        if cal.enabled:
            # Imported only where calendars are read: the CalDAV client and its HTTP stack are a
            # sixth of the import time every start pays (0.14 s before the first presence).
            from presence.sources.calendar.caldav_reader import CalDavReader, CtagProbe
            from presence.sources.calendar.discovery import PrincipalDiscovery
            from presence.sources.calendar.watcher import CalendarWatcher

            assert self.config.caldav_password is not None  # parse_config requires it
            password = self.config.caldav_password.reveal()
            reader = CalDavReader(cal.username, password, cal.request_timeout, cal.verify_tls)
            probe = CtagProbe(cal.username, password, cal.request_timeout, cal.verify_tls)
            self.shutdown_closers.append(probe.close)
            discovery = (
                PrincipalDiscovery(
                    cal.server_url, cal.username, password, cal.request_timeout, cal.verify_tls
                )
                if cal.server_url
                else None
            )
            self.calendar = CalendarWatcher(
                reader.read,
                self.call_rules.on_intervals,
                cal.poll_interval,
                all_day_busy=cal.all_day_busy,
                default_tz=ZoneInfo(cal.timezone),
                probe=probe.ctag,
                discover=discovery.calendars if discovery is not None else None,
            )

    def _calendar_users(self) -> None:
        """After a read of Wazo's users: whose calendars to watch (new ones are read at once)."""
        if self.calendar is None:
            return
        from presence.sources.calendar.watcher import CalendarUser  # loaded with the calendars

        template = self.config.calendar.url_template
        name = self.config.calendar.principal_name  # with discovery (no template)
        users = []
        for person in self.people.by_uuid.values():
            fill = {"localpart": person.chat_jid.split("@")[0], "email": person.chat_jid}
            if not is_single_segment(fill["localpart"]):
                # "x%2f..%2falice" is a valid localpart, and a path to alice's calendar once the
                # server decodes it: such a user gets no calendar rather than someone else's.
                log.warning(
                    "calendar: no calendar read for %s (its localpart would be a path: / \\ %% or dots)",
                    person.chat_jid,
                )
                continue
            users.append(
                CalendarUser(person.wazo_uuid, template.format(**fill), frozenset({person.chat_jid}))
                if template
                else CalendarUser(person.wazo_uuid, "", frozenset({person.chat_jid}), name.format(**fill))
            )
        for key in self.calendar.set_users(users):
            self._spawn(self.calendar.poll_user(key), f"calendar-{key}")

    # --- XMPP events -------------------------------------------------------------------------------

    def _on_session_start(self, _event: Any) -> None:
        assert self.intake is not None
        assert self.publisher is not None
        # What the old stream may have lost, and how far the watchers' sessions are proven to
        # predate it: publish_all then sends only what is needed (see publisher.py).
        self.intake.on_session_start(self.publisher.new_stream())
        self._spawn(self._publish_all_when_learnt(), "publish-all-after-connect")

    async def _publish_all_when_learnt(self) -> None:
        """Every subscriber gets everyone's presence once chat presence is learnt again (bounded).

        Sending at once would show "Reachable by phone" for everyone whose chat presence the server
        has not re-sent yet, then correct it a moment later.
        """
        assert self.intake is not None
        assert self.publisher is not None
        bound = self.config.presence.privilege_grace + BARRIER_TIMEOUT
        await wait_event(self.intake.learnt, bound)
        if self.supervisor is not None and self.supervisor.online.is_set():
            self.publisher.publish_all()

    async def _privacy_changed(self, owner_uuid: str) -> None:
        """One user changed who may see their phone: drop the watchers no longer allowed (never
        braked: one owner), and take the phone JID out of (or put it into) rosters too."""
        assert self.phone_jids is not None
        await self.phone_jids.enforce_owner(owner_uuid)
        intake, rosters = self.intake, self.rosters
        if intake is not None and rosters is not None and intake.privileged_roster:
            rosters.request(can_read=intake.roster_readable, rules_changed=True)

    def _greet_subscriber(self, owner_uuid: str, alias: str, watcher: str) -> None:
        """A watcher just got a phone JID in their roster: show its presence now, not at next login."""
        if self.publisher is not None and not self.publisher.held:  # else publish_all will
            self.publisher.send_current(owner_uuid, alias, watcher)

    def _on_privileges(self, _event: Any = None) -> None:
        assert self.intake is not None
        self.intake.on_privileges()

    async def _route_presence(self, pres: Any) -> None:
        assert self.intake is not None
        assert self.phone_jids is not None
        assert self.xmpp is not None
        if pres["type"] == "error":
            log.debug("presence error from %s: %s", pres["from"], pres["error"]["condition"])
            return
        to = pres["to"]
        if to.domain != self.xmpp.boundjid.domain:
            return
        if to.user:
            if pres["type"] == "probe":  # a watcher's session is starting: they can receive
                self.chat_sessions.probed(pres["from"].bare.lower())
            await self.phone_jids.handle(pres)
        else:
            await self.intake.handle(pres)

    async def _say_goodbye(self) -> None:
        assert self.publisher is not None
        self.publisher.send_unavailable_to_all()

    # --- Wazo --------------------------------------------------------------------------------------

    async def on_phone_event(self, event: PhoneEvent) -> None:
        self.last_event_at = time.monotonic()
        self.metrics.count_wazo_event(type(event))
        self._latency.event_arrived()
        try:
            await self._on_phone_event(event)
        finally:
            self._latency.event_done()

    async def _on_phone_event(self, event: PhoneEvent) -> None:
        if isinstance(event, UsersChanged):
            self._users_changes += 1
            self._users_stale[event.user_uuid] = self._users_changes
            self.users.request(USER_EVENTS_SETTLE)
            return
        if isinstance(event, CallsResynced) and not event.periodic:
            self._users_after_reconnect()
        people = self.presence_people
        for state in self.tracker.apply(event):
            if state.user_uuid in people.by_uuid:
                self.hub.apply_phone(state.user_uuid, state)
        if isinstance(event, DndChanged | ForwardChanged):
            # Perhaps the user changing their routing during a rule: the rules look again.
            self.call_rules.on_pbx_change(event.user_uuid)
        # After the hub: the presence goes out first; the history writes on its own task.
        await self.history.on_event(event)
        if isinstance(event, VoicemailReceived):
            # Its own task: a slow directory lookup must not hold up the phone events behind it.
            self._spawn(self._voicemail_notice(event), "voicemail-notice")
        if isinstance(event, CallsResynced):
            if not event.periodic:  # a reconciliation follows a resync or a read: nobody is missing
                self._default_phone_states()
            self._wazo_resynced = True
            self._phone_state_known()

    def _default_phone_states(self) -> None:
        """After a resync: the users chatd listed none for have the default state (no line up).

        Not set for everyone before the resync (see serve_last_read): at 50,000 users that was
        50,000 merges of a default state replaced a second later by chatd's.
        """
        people, hub = self.presence_people, self.hub
        for user_uuid in people.by_uuid:
            if hub.phone(user_uuid) is None:
                hub.apply_phone(user_uuid, self.tracker.get(user_uuid))

    def _users_after_reconnect(self) -> None:
        """The event stream just (re)connected: Wazo's user list may have changed while it was
        down, unheard. A read begun after the stream subscribed sees those changes; any other
        read may have missed them, so the users are read again.

        At start-up the first read waits for the stream to subscribe (see :meth:`provision`):
        50,000 users are then read once, not a second time right after the first.
        """
        events = self.wazo.events if self.wazo is not None else None
        since = events.subscribed_at if events is not None else None
        reading = self._reading
        if reading is not None and since is not None and reading[0] >= since:
            # Until the running read ends, every copy may be stale; that read clears the mark.
            self._users_stale[""] = max(self._users_stale.get("", reading[1]), reading[1])
            return
        if reading is None and not self.provisioned.is_set():
            return  # the first read (or its retry after a failure) begins later: it sees them
        last = self._read_since
        if reading is None and since is not None and last is not None and last >= since:
            return  # the last read began after the stream subscribed
        self._users_changes += 1
        self._users_stale[""] = self._users_changes  # unheard changes: every copy is stale
        self.users.request()

    def _known_pbx_user(self, user_uuid: str) -> WazoUser | None:
        """The Wazo user as the last read of every user gave it, while no event since said it (or
        some unnamed user, line or extension) changed; None: read it from confd now."""
        events = self.wazo.events if self.wazo is not None else None
        if events is None or not events.synced.is_set():
            return None  # changes may go unheard
        if "" in self._users_stale or user_uuid in self._users_stale:
            return None
        return self.pbx_users.get(user_uuid)

    def _tracked_calls(self, user_uuid: str) -> tuple[Call, ...] | None:
        """A user's current calls from the event stream; None while it is not live and
        resynchronised (the tracker may have missed calls: commands ask calld instead)."""
        events = self.wazo.events if self.wazo is not None else None
        if events is None or not events.synced.is_set():
            return None
        return self.tracker.get(user_uuid).calls

    async def _voicemail_notice(self, event: VoicemailReceived) -> None:
        # After the history has its row: the notice names that row ("call back N").
        await self.history.written()
        row = await self.history.voicemail_row(event.user_uuid, event.message_id)
        await self.voicemail_notices.send(event, row)

    def _phone_state_known(self) -> None:
        """Users and their phone states both read from Wazo: subscribers may now get everything."""
        people_known = self.provisioned.is_set() or bool(self.presence_people)
        if self._wazo_resynced and people_known and self.publisher is not None:
            self.publisher.release()

    async def provision(self) -> bool:
        """Read Wazo's users and map them to chat JIDs; log each user left without a phone JID.

        False when the users could not be read (the refresher retries with backoff).
        """
        wazo = self.wazo
        if wazo is None:
            log.warning("cannot read Wazo users: the Wazo client is not running")
            return False
        events = wazo.events
        if not self.provisioned.is_set() and events is not None:
            # The first read begins once the event stream is subscribed, so that it sees every
            # change the stream does not announce; its resync then needs no second read (see
            # _users_after_reconnect). Bounded: without a stream the users are read all the same.
            await wait_event(events.subscribed, wazo.settings.request_timeout_s)
            if self.presence_people:
                # Presence is served from the stored copy meanwhile (serve_last_read): what it
                # waits for is the phone states, read from the same Wazo host and decoded on the
                # same CPU as the users; they go first (at 50,000 users their read took 1.5 s, not 1.8).
                await wait_event(events.synced, wazo.settings.request_timeout_s)
        changes_before = self._users_changes
        self._reading = reading = (time.monotonic(), changes_before)
        try:
            users = await wazo.confd.list_users()
        except WazoError as error:
            log.error("cannot read Wazo users (%s); keeping the %d users known", error, len(self.people))
            return False
        finally:
            self._reading = None
        self._read_since = reading[0]
        # This read saw every change announced before it started; later ones stay stale.
        self._users_stale = {u: n for u, n in self._users_stale.items() if n > changes_before}
        identities = [(u.uuid, u.email, u.username, u.display_name) for u in users]
        people, problems = self._people_of(identities)
        for problem in problems:
            log.info("Wazo user %s gets no phone JID: %s", problem.wazo_uuid or "-", problem.reason)
        self.unmatched = list(problems)
        old = self.presence_people  # the last read, or the stored copy before the first one
        self.people = self.presence_people = people
        self.pbx_users.clear()
        self.pbx_users.update((u.uuid, u) for u in users)
        self._names_by_number = None
        # The hub is keyed by Wazo uuid: a user whose email changed keeps their state and watchers.
        for gone in set(old.by_uuid) - set(people.by_uuid):
            self.hub.remove(gone)
        for person in people.by_uuid.values():
            before = old.by_uuid.get(person.wazo_uuid)
            if before is not None and before.chat_jid != person.chat_jid:
                log.info(
                    "Wazo user %s is now %s (was %s)", person.wazo_uuid, person.chat_jid, before.chat_jid
                )
                self.hub.apply_im(person.wazo_uuid, ImState())  # the old chat account says nothing more
            self.hub.apply_phone(person.wazo_uuid, self.tracker.get(person.wazo_uuid))
        if self.subscriptions is not None:
            await self.subscriptions.adopt(people)
        await self.settings.adopt(people)
        changed = set(old.by_chat_jid) != set(people.by_chat_jid)
        first_read = not self.provisioned.is_set()
        if changed or first_read:
            log.info("%d users provisioned from Wazo", len(people))
        intake, rosters = self.intake, self.rosters
        if self.supervisor is not None and self.supervisor.online.is_set() and intake is not None:
            if changed:
                intake.on_people_changed()  # probe/ask the new users now, not at the next connect
            elif first_read and rosters is not None and intake.privileged_roster:
                # The users the stored copy said: nothing to probe again, but the rosters wait
                # for this run's first read (see serve_last_read).
                rosters.request(can_read=intake.roster_readable)
        if self.phone_jids is not None:
            await self.phone_jids.enforce_policy()
        self._calendar_users()
        if self.address_book_sync is not None:  # each user's own address book
            set_address_book_users(self.config, self.address_book_sync, people)
            self._spawn(self.address_book_sync.sync_all(), "address-books")
        undecided = self.call_rules.on_people()
        freeze_long_lived()
        first = not self.provisioned.is_set()
        self.provisioned.set()
        self._phone_state_known()
        # After the release: these decisions change no presence (see CallRules.on_people).
        self._spawn(self.call_rules.decide_later(undecided), "call-rules-after-read")
        if first and self.phone_jids is not None:
            await self.phone_jids.release_held()
        await self._keep_last_read(sorted(identities))
        return True

    def _people_of(self, identities: Iterable[WazoUserRow]) -> tuple[People, list[MappingProblem]]:
        """Users (uuid, email, username, name) mapped to chat JIDs as the configuration says."""
        return build_people(
            (PbxUser(*identity) for identity in identities),
            MatchRule(self.config.identity.match),
            self.domains,
            self.config.identity.overrides,
        )

    async def serve_last_read(self) -> None:
        """Serve presence from the stored copy of the previous run's last read of Wazo's users,
        until this run's first read replaces it.

        Reading 50,000 users from confd takes seconds (tens with a remote, busy confd), and
        without users nobody's presence can go out. Only who is who comes from the copy: the
        phone states and chat presences are this run's, and only presence uses it (the hub, the
        chat-presence intake, phone-JID probes and policy): commands, notices, call rules,
        rosters and calendars wait for the read. A user changed in Wazo while the component was
        down shows as the copy says for that long (a removed user: until the read removes them).
        """
        assert self.store is not None
        rows = await self.store.wazo_directory()
        self._directory_rows = sorted(rows)  # sorted as provision stores it, not by the database's collation
        if not rows:
            return
        people, _problems = self._people_of(rows)
        # Their phone states reach the hub with the resync (nothing is published before it).
        self.presence_people = people
        log.info("%d users served from the last read of Wazo's users until it is read again", len(people))
        if self.phone_jids is not None:
            # The configuration may have changed since: no watcher gets what it no longer allows.
            await self.phone_jids.enforce_policy()

    async def _keep_last_read(self, rows: list[WazoUserRow]) -> None:
        """Store what this read says of each user (sorted) for the next start, when it changed."""
        if rows == self._directory_rows or self.store is None:
            return
        try:
            await self.store.save_wazo_directory(rows)
        except Exception:
            log.exception("cannot store the copy of Wazo's users; the next start waits for confd")
            return
        self._directory_rows = rows

    async def _run_wazo(self) -> None:
        """Run the Wazo client until shutdown; if it ever fails unexpectedly, log and start over."""
        retry = Backoff(1.0, 60.0)
        while True:
            try:
                async with WazoClient(wazo_settings(self.config), self.on_phone_event) as wazo:
                    self.wazo = wazo
                    try:
                        await check_single_tenant(wazo.http, wazo.settings.tenant_uuid)
                    except SeveralTenants as refused:
                        log.error("refusing to start: %s", refused)
                        self.fatal = str(refused)
                        self.request_stop()
                        return
                    self.users.request()
                    retry.reset()
                    await asyncio.Event().wait()  # until cancelled at shutdown
            except Exception:
                self.wazo = None  # commands say "not connected" instead of using a closed client
                delay = retry.next_delay()
                log.exception("the Wazo client failed; starting it again in %.1f s", delay)
                await asyncio.sleep(delay)
            finally:
                self.wazo = None

    # --- life-cycle --------------------------------------------------------------------------------

    async def _wait_until_active(self, install_signal_handlers: bool) -> bool:
        """Open the store, report "standby" and wait for the active lock; False if asked to stop
        first (everything opened here is closed again)."""
        cfg = self.config
        self.pair = pair = PairMember(cfg.store.url, _reveal(cfg.store_password), cfg.component.jid)
        loop = asyncio.get_running_loop()
        if install_signal_handlers:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_stop)
            # Without this, SIGHUP (systemctl reload) would end the standby.
            loop.add_signal_handler(signal.SIGHUP, self._reload_on_standby)
        waiting = asyncio.ensure_future(pair.wait_until_active())
        try:
            self.store = await open_store(cfg.store.path, cfg.store.url, _reveal(cfg.store_password))
            if cfg.ops.enabled:
                self.ops = OpsServer(self, cfg.ops)
                await self.ops.start()
            stopping = asyncio.ensure_future(self._stop_requested.wait())
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if waiting.done() and not self._stop_requested.is_set():
                self._spawn(self._watch_lock(pair), "active-lock")
                return True
        except BaseException:
            await self._close_standby()
            raise
        finally:
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            if install_signal_handlers:
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    loop.remove_signal_handler(sig)
        await self._close_standby()
        log.info("stopped (standby)")
        return False

    def _reload_on_standby(self) -> None:
        log.warning(
            "standby: a reload applies to the serving instance only; restart this one to read "
            "a changed configuration file before it takes over"
        )

    async def _close_standby(self) -> None:
        if self.ops is not None:
            await self.ops.stop()
        if self.store is not None:
            await self.store.close()
        if self.pair is not None:
            await self.pair.close()

    async def _watch_lock(self, pair: PairMember) -> None:
        await pair.watch()
        if not self._stop_requested.is_set():
            if isinstance(self.store, PostgresStore):
                self.store.terminate()  # from now on the other instance may own the store
            log.error(
                "lost the active lock's PostgreSQL session: stopping now, without goodbyes "
                "(the standby may already be active); exiting with status 3"
            )
            self.lost_lock = True
            self.request_stop()

    async def run(self, install_signal_handlers: bool = True) -> None:
        favour_the_event_loop()
        if self.config.store.url and not await self._wait_until_active(install_signal_handlers):
            return
        await self._build()
        assert self.store is not None
        assert self.supervisor is not None
        try:
            if install_signal_handlers:
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, self.request_stop)
                loop.add_signal_handler(signal.SIGHUP, self.admin.reload)
            await self.call_rules.load()
            if self.config.wazo.enabled:
                await self.serve_last_read()
            # The stored state (a million subscriptions on a large site) is loaded: out of the GC's
            # walks before Wazo's users are read, whose decoding triggers collection after collection.
            freeze_long_lived()
            if self.calendar is not None:
                self.call_rules.hold_until_calendar_read()
                self._spawn(self.calendar.run(), "calendar")
            if self.address_book_sync is not None:
                self._spawn(self.address_book_sync.run(), "address-book-sync")
            if self.config.wazo.enabled:
                self._spawn(self._run_wazo(), "wazo")
                self._spawn(self.users.run(), "wazo-users")
            else:
                log.warning(
                    "Wazo is disabled in the configuration: users are read from Wazo, so nobody has a "
                    "phone JID; subscriptions to phone JIDs are refused, no chat presence is followed "
                    "and commands answer 'not provisioned'"
                )
            if self.config.ops.enabled and self.ops is None:  # a standby started it already
                self.ops = OpsServer(self, self.config.ops)
                await self.ops.start()
            if self.voicemail_http is not None:
                await self.voicemail_http.start()
            supervising = asyncio.create_task(self.supervisor.run(), name="xmpp-supervisor")
            self.started.set()
            log.info("phonepresence started for %s", self.config.component.jid)
            await self._stop_requested.wait()
            log.info("stopping")
            await self._shutdown(supervising)
        finally:
            if install_signal_handlers:
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    asyncio.get_running_loop().remove_signal_handler(sig)
            if self.rosters is not None:
                self.rosters.cancel()  # it writes to the store, closed below
            self.call_rules.close()
            if self.intake is not None:
                await self.intake.close()  # it writes to the store, closed below
            for task in list(self._background):
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)
            # After the Wazo stream stopped (a background task): no call event can come after the
            # history's last writes. It writes to the store, closed below.
            await self.history.close()
            for closer in self.shutdown_closers:
                await closer()
            if self.ops is not None:
                await self.ops.stop()
            if self.voicemail_http is not None:
                await self.voicemail_http.stop()
            await self.store.close()
            if self.pair is not None:
                await self.pair.close()  # last: the standby takes over once we are gone
            log.info("stopped")

    # --- what the administrators' commands read and change --------------------------------------

    def chat_sessions_known(self) -> int:
        return self.intake.chat_users_heard() if self.intake is not None else 0

    def publish_backlog(self) -> bool:
        return self.publisher.backlog() if self.publisher is not None else False

    def apply_live_config(self, config: Config) -> None:
        """Take the keys a reload may change at run time (see admin_ops.LIVE_KEYS)."""
        self.config = config
        logging.getLogger().setLevel(config.logging.level.upper())
        self.commands.services.reconfigure(config)

    async def _shutdown(self, supervising: asyncio.Task[None]) -> None:
        assert self.supervisor is not None
        # Without the lock, the other instance may be serving already: our goodbyes would
        # tell every watcher "unavailable" on top of its presences.
        if self.supervisor.online.is_set() and not self.lost_lock:
            for hook in self.shutdown_hooks:
                try:
                    await hook()
                except Exception:
                    log.exception("shutdown step %r failed; continuing the shutdown", hook)
            if self.publisher is not None:
                # The goodbyes can be megabytes for a large company; closing the stream before
                # the server read them would drop them (slixmpp aborts after its short wait).
                await self.publisher.drain(SHUTDOWN_DRAIN_TIMEOUT)
        await self.supervisor.stop()
        await supervising
