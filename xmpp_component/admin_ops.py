"""What the administrators' commands read and do: status, one user's explanation, resync, unmatched
users and configuration reload. One object over the running :class:`~xmpp_component.app.App`, so
the commands (and the SIGHUP handler) never reach into the app's parts themselves.

Reload applies at run time only the keys listed in :data:`LIVE_KEYS`; any other changed key is
reported as needing a restart and the running value is kept (a half-applied change to the XMPP
link, the store or Wazo's connection would be worse than none).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import xmpp_component
from presence.merge import STATE_TABLE
from presence.model import CallsResynced, PresencesResynced
from presence.sources.wazo.errors import WazoError
from xmpp_component.config import SECTIONS, Config, ConfigError, load_config
from xmpp_component.ring_first import describe as describe_ring_first

if TYPE_CHECKING:
    from xmpp_component.app import App

log = logging.getLogger(__name__)

# section.key changed by "Reload configuration" (and SIGHUP) without a restart.
LIVE_KEYS = frozenset(
    {
        "component.admins",
        "logging.level",
        "calls.max_calls_per_minute",
    }
)


@dataclass(frozen=True)
class ReloadResult:
    applied: tuple[str, ...] = ()  # section.key now in effect
    need_restart: tuple[str, ...] = ()  # section.key changed in the file, not applied
    error: str = ""  # the file was refused (the message names the key); nothing applied

    def describe(self) -> str:
        if self.error:
            return f"Configuration not reloaded: {self.error}. The running configuration is kept."
        parts = []
        if self.applied:
            parts.append("Applied: " + ", ".join(self.applied) + ".")
        if self.need_restart:
            parts.append("Changed but needs a restart: " + ", ".join(self.need_restart) + ".")
        return " ".join(parts) or "Configuration reloaded: nothing changed."


def changed_keys(old: Config, new: Config) -> list[str]:
    keys: list[str] = []
    for name in SECTIONS:
        attribute = name.rsplit(".", 1)[-1]  # [directory.ldap] is Config.ldap
        before, after = getattr(old, attribute), getattr(new, attribute)
        keys.extend(
            f"{name}.{f.name}"
            for f in dataclasses.fields(before)
            if getattr(before, f.name) != getattr(after, f.name)
        )
    return keys


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "none yet"
    return f"{seconds:.0f} s ago" if seconds >= 1 else "less than 1 s ago"


class AdminOps:
    def __init__(self, app: App) -> None:
        self.app = app
        self.started_at = time.monotonic()
        self.reloads = 0

    # --- Status --------------------------------------------------------------------------------

    def status_lines(self) -> list[tuple[str, str]]:
        app = self.app
        sup = app.supervisor
        wazo = app.wazo
        rows = [
            ("Version", xmpp_component.__version__),
            ("Uptime", f"{time.monotonic() - self.started_at:.0f} s"),
        ]
        if sup is not None:
            link = "up" if sup.online.is_set() else "down"
            rows.append(("XMPP link", f"{link}, {max(sup.sessions - 1, 0)} reconnections"))
        if not app.config.wazo.enabled:
            rows.append(("Wazo event stream", "disabled in the configuration"))
        elif wazo is None or wazo.events is None:
            rows.append(("Wazo event stream", "not connected"))
        else:
            events = wazo.events
            state = "synchronised" if events.synced.is_set() else "connecting"
            last = app.last_event_at
            age = None if last is None else time.monotonic() - last
            rows.append(
                (
                    "Wazo event stream",
                    f"{state}, {max(events.connections - 1, 0)} reconnections, last event {_age(age)}",
                )
            )
        rows.append(("Users provisioned", str(len(app.people))))
        rows.append(("Users unmatched", str(len(app.unmatched))))
        subs = app.subscriptions.count() if app.subscriptions is not None else 0
        rows.append(("Subscriptions", str(subs)))
        rows.append(("Chat users with presence", str(app.chat_sessions_known())))
        rows.append(("Publish backlog", "yes" if app.publish_backlog() else "none"))
        # Only a serving instance answers commands: with PostgreSQL, the active one of a pair.
        rows.append(("Store", "PostgreSQL, active instance of a pair" if app.pair is not None else "SQLite"))
        rows.extend(self._source_rows())
        return rows

    def _source_rows(self) -> list[tuple[str, str]]:
        """The calendar and directory sources as they are running: counts, last success, errors."""
        app = self.app
        sources = app.sources
        rows = []
        calendar = app.calendar
        if calendar is None:
            rows.append(("Calendar", "not configured"))
        else:
            rows.append(
                (
                    "Calendar",
                    f"{calendar.followed} calendars followed, {calendar.unreadable} unreadable; "
                    + sources.describe("calendar", "poll", "polls"),
                )
            )
        rows.append(("Directory, Wazo users", sources.describe("wazo", "search", "searches")))
        if not app.config.ldap.enabled:
            rows.append(("Directory, LDAP", "not configured"))
        else:
            ldap = sources.figures("ldap", "search")
            if not ldap.requests:
                reachable = "enabled, not searched yet"
            elif ldap.failing:
                reachable = "unreachable at the last search"
            else:
                reachable = "reachable at the last search"
            searches = sources.describe("ldap", "search", "searches")
            rows.append(("Directory, LDAP", f"{reachable}; {searches}"))
        sync = app.address_book_sync
        if sync is None:
            rows.append(("Directory, address books", "not configured"))
        else:
            contacts = sum(len(sync.books.contacts(book)) for book in sync.urls)
            rows.append(
                (
                    "Directory, address books",
                    f"{sync.readable} of {len(sync.urls)} books readable, {contacts} contacts, "
                    f"{sync.rounds} sync rounds",
                )
            )
            for book, label in (("company", "company book"), ("personal", "personal books")):
                syncs = sources.describe(book, "sync", "syncs")
                searches = sources.describe(book, "search", "searches")
                rows.append((f"Directory, {label}", f"sync: {syncs}. Search: {searches}"))
        return rows

    # --- Explain user --------------------------------------------------------------------------

    def explain(self, who: str) -> list[tuple[str, str]] | None:
        """Everything about one user, by chat JID, phone JID localpart or Wazo uuid; None: unknown."""
        app = self.app
        people = app.people
        key = who.strip().lower()
        person = (
            people.by_chat_jid.get(key)
            or people.by_uuid.get(who.strip())
            or people.by_localpart.get(key.split("@", 1)[0])
        )
        if person is None:
            return None
        uuid = person.wazo_uuid
        phone = app.hub.phone(uuid)
        im = app.hub.im(uuid)
        presence = app.hub.presence(uuid)
        rows = [
            ("Chat JID", person.chat_jid),
            ("Wazo user", uuid),
            ("Phone JID", f"{person.localpart}@{app.config.component.jid}"),
        ]
        if phone is None:
            rows.append(("Phone", "no state from Wazo yet"))
        else:
            lines = ", ".join(f"line {lid}: {state.value}" for lid, state in phone.lines) or "none"
            rows.append(("Lines", f"{phone.line_state.value} ({lines})"))
            rows.append(("Do not disturb", "on" if phone.do_not_disturb else "off"))
            calls = ", ".join(f"{c.call_id} {c.status.value}" for c in phone.calls) or "none"
            rows.append(("Calls", calls))
        rows.append(("Chat presence", im.show.value + (f" ({im.status})" if im.status else "")))
        rows.append(("Calendar", "busy" if app.hub.calendar(uuid).busy else "free"))
        if app.calendar is not None:
            rows.append(("Calendar source", app.calendar.user_state(uuid)))
        rows.extend(app.call_rules.explain(uuid))
        rows.append(("Ring first", describe_ring_first(app.settings.ring_first(uuid))))
        shown = "unavailable" if not presence.available else (presence.show or "available")
        rows.append(("Published", f"{shown}: {presence.status or '-'} (activity {presence.activity.value})"))
        # One row of the state table per activity: the published activity names the row that won.
        won = next((row for row in STATE_TABLE if row.activity is presence.activity), None)
        rows.append(("Why", won.when if won is not None else "-"))
        rows.append(("Inputs", "; ".join(f"{k}={v}" for k, v in presence.raw) or "-"))
        watchers = 0
        if app.subscriptions is not None:
            watchers = sum(len(s) for s in app.subscriptions.subscribers(uuid).values())
        rows.append(("Watchers", str(watchers)))
        return rows

    # --- Unmatched users -----------------------------------------------------------------------

    def unmatched_lines(self) -> list[tuple[str, str]]:
        return [(problem.wazo_uuid or "-", problem.reason) for problem in self.app.unmatched]

    # --- Resync now ----------------------------------------------------------------------------

    async def resync(self) -> str:
        """Read Wazo's users, then every phone state and call, as a reconnection would."""
        app = self.app
        wazo = app.wazo
        if wazo is None:
            return "The phone system (Wazo) is not connected; nothing was read."
        if not await app.provision():
            return "Reading Wazo's users failed (see the log); the users known are kept."
        try:
            presences = await wazo.chatd.list_presences()
            calls = await wazo.calld.list_calls()
        except WazoError as error:
            return f"Reading phone states failed ({error}); the users were read again."
        await app.on_phone_event(PresencesResynced(tuple(presences)))
        # periodic=True: the users were just read, no second read is needed.
        await app.on_phone_event(CallsResynced(tuple(calls), periodic=True))
        users, states = len(app.people), len(presences)
        log.info("resync by an administrator: %d users, %d phone states, %d calls", users, states, len(calls))
        return f"Read {users} users, {states} phone states and {len(calls)} calls from Wazo."

    # --- Reload configuration ------------------------------------------------------------------

    def reload(self) -> ReloadResult:
        app = self.app
        old = app.config
        if old.source is None:
            return ReloadResult(error="the configuration was not read from a file")
        try:
            new = load_config(old.source)
        except ConfigError as error:
            log.error("configuration reload refused: %s; keeping the running configuration", error)
            return ReloadResult(error=str(error))
        changed = changed_keys(old, new)
        applied = tuple(k for k in changed if k in LIVE_KEYS)
        restart = tuple(k for k in changed if k not in LIVE_KEYS)
        updated = old
        for dotted in applied:
            section, name = dotted.split(".", 1)
            value = getattr(getattr(new, section), name)
            updated = dataclasses.replace(
                updated, **{section: dataclasses.replace(getattr(updated, section), **{name: value})}
            )
        app.apply_live_config(updated)
        self.reloads += 1
        result = ReloadResult(applied, restart)
        log.info("configuration reloaded: %s", result.describe())
        return result
