"""Wiring: builds every part from a Config and runs until stopped.

Data flows one way: Wazo events -> tracker -> hub; chat presence -> hub; hub changes ->
publisher -> subscribers. The app only connects the parts and owns their life-cycle.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from presence.backoff import Backoff
from presence.directory import DirectoryEntry
from presence.directory.wazo_users import entries_of
from presence.hub import PresenceHub
from presence.identity import MatchRule, PbxUser, People, build_people
from presence.model import CallsResynced, DndChanged, ForwardChanged, PhoneEvent
from presence.privacy import OwnerPrivacy, PrivacyPolicy
from presence.sources.calendar.caldav_reader import CalDavReader
from presence.sources.calendar.watcher import CalendarUser, CalendarWatcher
from presence.sources.wazo.client import WazoClient
from presence.sources.wazo.confd import WazoUser
from presence.sources.wazo.config import WazoSettings
from presence.sources.wazo.errors import WazoError
from presence.sources.wazo.tracker import PhoneStateTracker
from store import Store
from xmpp_component.call_rules import CallRules
from xmpp_component.commands import install_commands
from xmpp_component.commands.contact import ContactCommands
from xmpp_component.component import PhoneComponent
from xmpp_component.config import Config
from xmpp_component.connection import ConnectionSupervisor
from xmpp_component.directory_sources import address_book_sync, set_address_book_users
from xmpp_component.im_presence import ImPresenceIntake
from xmpp_component.phone_jids import PhoneJidService
from xmpp_component.phone_vcards import PhoneVCards
from xmpp_component.publisher import Publisher
from xmpp_component.subscriptions import PhoneSubscriptions
from xmpp_component.user_settings import DEFAULT_PRIVACY, UserSettings

log = logging.getLogger(__name__)

ShutdownHook = Callable[[], Awaitable[None]]
# Longest wait for Wazo's users and states before subscribers get the presence known so far.
INITIAL_PUBLISH_WAIT = 10.0
# Longest wait at shutdown for the unavailable presences to leave the socket.
SHUTDOWN_DRAIN_TIMEOUT = 30.0


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
        token_expiration_s=config.wazo.token_expiration,
        request_timeout_s=config.wazo.request_timeout,
    )


def freeze_long_lived() -> None:
    """Move every object alive now out of the cyclic GC's reach (``gc.freeze``).

    After a load of users or address books, the heap holds tens of thousands of long-lived
    objects; each full collection then walks them all, and one lands in the middle of a request
    now and then (measured: directory searches at p99 88-110 ms instead of 24-27 ms, the LDAP
    client's decoding triggering the collections). Reference counting still frees them when they
    are dropped; only cycles among them would stay until exit.
    """
    gc.freeze()


class App:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.domains = user_domains(config)
        self.store: Store | None = None
        self.xmpp: PhoneComponent | None = None
        self.supervisor: ConnectionSupervisor | None = None
        self.hub = PresenceHub()
        self.tracker = PhoneStateTracker()
        self.people = People()
        self.wazo: WazoClient | None = None
        self.subscriptions: PhoneSubscriptions | None = None
        self.publisher: Publisher | None = None
        self.intake: ImPresenceIntake | None = None
        self.phone_jids: PhoneJidService | None = None
        self.pbx_users: dict[str, WazoUser] = {}  # uuid -> the user as last read (names, numbers)
        self.provisioned = asyncio.Event()  # set after the first successful read of Wazo's users
        self._provisioning = False  # a read of Wazo's users is running
        self._wazo_resynced = False  # the event stream has read every user's phone state once
        self._stop_requested = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self.started = asyncio.Event()
        # Run while the stream is still up at shutdown, e.g. to tell subscribers we are leaving.
        self.shutdown_hooks: list[ShutdownHook] = []

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
        self.store = await Store(cfg.store.path).open()
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
        )
        self.subscriptions = PhoneSubscriptions(self.store)
        await self.subscriptions.load()
        supervisor = self.supervisor
        self.publisher = Publisher(xmpp, self.hub, self.subscriptions, supervisor.online.is_set)
        if cfg.wazo.enabled:  # first publish_all once the phone state is known (see _phone_state_known)
            self.publisher.hold(INITIAL_PUBLISH_WAIT)
        self.intake = ImPresenceIntake(
            xmpp,
            self.store,
            self.hub,
            lambda: self.people,
            self.subscriptions,
            self.domains,
            privilege_grace=cfg.presence.privilege_grace,
            roster_colleagues=cfg.presence.roster_colleagues,
            roster_group=cfg.presence.roster_group,
        )
        await self.intake.load()
        policy = PrivacyPolicy(
            local_domains=frozenset(self.domains),
            allowed_remote_domains=frozenset(d.lower() for d in cfg.presence.allow_remote_domains),
            allowed_remote_jids=frozenset(j.lower() for j in cfg.presence.allow_remote_jids),
        )
        self.settings = UserSettings(self.store)
        await self.settings.load()
        self.phone_jids = PhoneJidService(
            xmpp, lambda: self.people, self.subscriptions, self.publisher, policy, self._owner_privacy
        )
        self.settings.on_privacy_change = self.phone_jids.enforce_policy
        self.phone_vcards = PhoneVCards(
            xmpp, lambda: self.people, self.pbx_users.get, self.phone_jids.may_see, cfg.directory.wazo_mobiles
        )
        xmpp.add_event_handler("session_start", self._on_session_start)
        xmpp.add_event_handler("privileges_advertised", self._on_privileges)
        xmpp.add_event_handler("presence", self._route_presence)
        self.shutdown_hooks.append(self._say_goodbye)
        # Click-to-call commands (XEP-0050 + chat text); they re-register at every session start.
        self.commands = install_commands(
            xmpp, cfg, self.domains, lambda: self.people, lambda: self.wazo, self.hub, self.settings
        )
        self._build_call_rules()
        self.contact_commands = ContactCommands(
            self.commands.adhoc, self._contact_entries, self.phone_jids.may_see
        )
        assert self.commands.address_books is not None
        self.address_book_sync = address_book_sync(cfg, self.store, self.commands.address_books)
        if self.address_book_sync is not None:
            self.address_book_sync.on_round = freeze_long_lived

    def _contact_entries(self, localpart: str) -> list[DirectoryEntry]:
        """A colleague's numbers, for the commands and card of their phone JID."""
        person = self.people.by_localpart.get(localpart)
        user = self.pbx_users.get(person.wazo_uuid) if person is not None else None
        return entries_of(user, self.config.directory.wazo_mobiles) if user is not None else []

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
            assert self.config.caldav_password is not None  # parse_config requires it
            reader = CalDavReader(
                cal.username, self.config.caldav_password.reveal(), cal.request_timeout, cal.verify_tls
            )
            self.calendar = CalendarWatcher(
                reader.read,
                self.call_rules.on_intervals,
                cal.poll_interval,
                all_day_busy=cal.all_day_busy,
                default_tz=ZoneInfo(cal.timezone),
            )

    def _calendar_users(self) -> None:
        """After a read of Wazo's users: whose calendars to watch (new ones are read at once)."""
        if self.calendar is None:
            return
        template = self.config.calendar.url_template
        users = [
            CalendarUser(
                person.localpart,
                template.format(localpart=person.chat_jid.split("@")[0], email=person.chat_jid),
                frozenset({person.chat_jid}),
            )
            for person in self.people.by_uuid.values()
        ]
        for key in self.calendar.set_users(users):
            self._spawn(self.calendar.poll_user(key), f"calendar-{key}")

    # --- XMPP events -------------------------------------------------------------------------------

    def _on_session_start(self, _event: Any) -> None:
        assert self.intake is not None
        assert self.publisher is not None
        self.intake.on_session_start()
        self.publisher.publish_all()

    def _owner_privacy(self, owner: str) -> OwnerPrivacy:
        person = self.people.by_localpart.get(owner)
        return self.settings.privacy(person.chat_jid) if person is not None else DEFAULT_PRIVACY

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
            await self.phone_jids.handle(pres)
        else:
            await self.intake.handle(pres)

    async def _say_goodbye(self) -> None:
        assert self.publisher is not None
        self.publisher.send_unavailable_to_all()

    # --- Wazo --------------------------------------------------------------------------------------

    async def _on_phone_event(self, event: PhoneEvent) -> None:
        if isinstance(event, CallsResynced) and not self._provisioning:
            # The stream just (re)connected: Wazo's user list may have changed meanwhile. (At
            # start-up the first read is usually still running: no second read beside it.)
            self._spawn(self.provision(), "wazo-provisioning")
        people = self.people
        for state in self.tracker.apply(event):
            person = people.by_uuid.get(state.user_uuid)
            if person is not None:
                self.hub.apply_phone(person.localpart, state)
        if isinstance(event, DndChanged | ForwardChanged):
            # Perhaps the user changing their routing during a rule: the rules look again.
            self.call_rules.on_pbx_change(event.user_uuid)
        if isinstance(event, CallsResynced):
            self._wazo_resynced = True
            self._phone_state_known()

    def _phone_state_known(self) -> None:
        """Users and their phone states both read from Wazo: subscribers may now get everything."""
        if self._wazo_resynced and self.provisioned.is_set() and self.publisher is not None:
            self.publisher.release()

    async def provision(self) -> None:
        """Read Wazo's users and map them to chat JIDs; log each user left without a phone JID."""
        assert self.wazo is not None
        self._provisioning = True
        try:
            users = await self.wazo.confd.list_users()
        except WazoError as error:
            log.error("cannot read Wazo users (%s); keeping the %d users known", error, len(self.people))
            return
        finally:
            self._provisioning = False
        rule = MatchRule(self.config.identity.match)
        people, problems = build_people(
            (PbxUser(u.uuid, u.email, u.username, u.display_name) for u in users),
            rule,
            self.domains,
            self.config.identity.overrides,
        )
        for problem in problems:
            log.info("Wazo user %s gets no phone JID: %s", problem.wazo_uuid or "-", problem.reason)
        old = self.people
        self.people = people
        self.pbx_users.clear()
        self.pbx_users.update((u.uuid, u) for u in users)
        for gone in set(old.by_localpart) - set(people.by_localpart):
            self.hub.remove(gone)
        for person in people.by_uuid.values():
            self.hub.apply_phone(person.localpart, self.tracker.get(person.wazo_uuid))
        if set(old.by_chat_jid) != set(people.by_chat_jid):
            log.info("%d users provisioned from Wazo", len(people))
            if self.supervisor is not None and self.supervisor.online.is_set() and self.intake is not None:
                self.intake.on_people_changed()  # probe/ask the new users now, not at the next connect
        if self.phone_jids is not None:
            await self.phone_jids.enforce_policy()
        self._calendar_users()
        if self.address_book_sync is not None:  # each user's own address book
            set_address_book_users(self.config, self.address_book_sync, people)
            self._spawn(self.address_book_sync.sync_all(), "address-books")
        self.call_rules.on_people()
        freeze_long_lived()
        self.provisioned.set()
        self._phone_state_known()

    async def _run_wazo(self) -> None:
        """Run the Wazo client until shutdown; if it ever fails unexpectedly, log and start over."""
        retry = Backoff(1.0, 60.0)
        while True:
            try:
                async with WazoClient(wazo_settings(self.config), self._on_phone_event) as wazo:
                    self.wazo = wazo
                    await self.provision()
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

    async def run(self, install_signal_handlers: bool = True) -> None:
        await self._build()
        assert self.store is not None
        assert self.supervisor is not None
        try:
            if install_signal_handlers:
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, self.request_stop)
            await self.call_rules.load()
            if self.calendar is not None:
                self._spawn(self.calendar.run(), "calendar")
            if self.address_book_sync is not None:
                self._spawn(self.address_book_sync.run(), "address-book-sync")
            if self.config.wazo.enabled:
                self._spawn(self._run_wazo(), "wazo")
            else:
                log.warning("Wazo is disabled in the configuration: no phone state, chat presence only")
            supervising = asyncio.create_task(self.supervisor.run(), name="xmpp-supervisor")
            self.started.set()
            log.info("phonepresence started for %s", self.config.component.jid)
            await self._stop_requested.wait()
            log.info("stopping")
            await self._shutdown(supervising)
        finally:
            self.call_rules.close()
            for task in list(self._background):
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)
            await self.store.close()
            log.info("stopped")

    async def _shutdown(self, supervising: asyncio.Task[None]) -> None:
        assert self.supervisor is not None
        if self.supervisor.online.is_set():
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
