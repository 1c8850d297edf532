"""The calendar and directory sources as the admin and the operator see them, over the wire:
real Prosody, Radicale (calendars and address books), slapd (LDAP) and the Wazo simulator.

- Status (admin carol, by chat) shows each source's real state: calendars followed, address
  books readable and their contacts, LDAP reachable or not at the last search, counts, last
  success and the last error; a non-admin (bob) is refused;
- /metrics, read with a real HTTP client and parsed with prometheus-client's parser, counts each
  source's searches, syncs and polls, their errors and their latency;
- Explain user shows alice's meeting, the rule in force and the routing the rules set on Wazo.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from slixmpp.exceptions import IqError

from devservers.carddav import COMPANY_OWNER, COMPANY_PASSWORD, make_address_book, put_card, vcard
from devservers.prosody import ProsodyServer
from devservers.radicale import USERS, RadicaleServer
from devservers.slapd import PEOPLE_DN, SlapdServer
from rules.model import CallTarget, RuleSettings, Target
from tests.calendar.ics import event
from tests.commands.harness import Adhoc
from tests.commands.test_click_to_call import Chat
from tests.conftest import ClientFactory
from tests.e2e.test_combined_presence import ALICE_UUID, SERVICE_PASSWORD, ready
from tests.e2e.test_meeting_routing import save_settings
from tests.e2e.test_ops_endpoint import Samples, scrape
from tests.xmpp.appctl import component_config, running_app, wait_until
from wazo_sim.app import WazoSimulator
from xmpp_component.app import App
from xmpp_component.config import Config

pytestmark = pytest.mark.server

CALENDAR = "work"


@pytest.fixture
async def sim() -> AsyncIterator[WazoSimulator]:
    async with WazoSimulator() as simulator:
        yield simulator


@pytest.fixture
def dav(tmp_path: Path) -> Iterator[RadicaleServer]:
    """Calendars and address books in one Radicale (this test's own: one test stops it)."""
    server = RadicaleServer(tmp_path / "radicale")
    server.users = {**USERS, COMPANY_OWNER: COMPANY_PASSWORD}
    server.start()  # raises (failing the test) if Radicale cannot start: never a skip
    try:
        for owner in (COMPANY_OWNER, "alice"):
            make_address_book(server, owner)
        for user in ("alice", "bob", "carol"):
            server.make_calendar(user, CALENDAR)
        yield server
    finally:
        server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def config(
    prosody: ProsodyServer, sim: WazoSimulator, slapd: SlapdServer, dav: RadicaleServer, store: Path
) -> Config:
    return component_config(
        prosody,
        store,
        component={"admins": [f"carol@{prosody.domain}"]},
        wazo={"enabled": True, "base_url": sim.base_url, "username": "phonepresence"},
        presence={"privilege_grace": 0.3},
        ops={"enabled": True, "port": 0},
        calendar={
            "enabled": True,
            "url_template": f"{dav.base_url}/{{localpart}}/{CALENDAR}/",
            "username": dav.service_user,
            "password_env": "TEST_CALDAV_PASSWORD",
            "poll_interval": 60.0,
            "timezone": "UTC",
        },
        directory={
            "deadline": 1.5,
            "ldap": {
                "enabled": True,
                "uris": [slapd.uri],
                "base_dn": PEOPLE_DN,
                "bind_dn": slapd.reader_dn,
                "password_env": "TEST_LDAP_PASSWORD",
                "phone_attributes": ["telephoneNumber", "mobile", "ipPhone"],
                "name_attributes": ["displayName", "givenName", "sn"],
                "timeout": 10.0,
            },
            "carddav": {
                "enabled": True,
                "company_url": f"{dav.base_url}/{COMPANY_OWNER}/contacts/",
                "personal_url_template": f"{dav.base_url}/{{localpart}}/contacts/",
                "username": dav.service_user,
                "password_env": "TEST_CARDDAV_PASSWORD",
            },
        },
        env={
            "PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD,
            "TEST_LDAP_PASSWORD": slapd.reader_password,
            "TEST_CARDDAV_PASSWORD": dav.service_password,
            "TEST_CALDAV_PASSWORD": dav.service_password,
        },
    )


def sample(samples: Samples, name: str, source: str, kind: str) -> float:
    return samples.get((name, (("kind", kind), ("source", source))), 0.0)


def requests(samples: Samples, source: str, kind: str) -> float:
    return sample(samples, "phonepresence_source_requests_total", source, kind)


def errors(samples: Samples, source: str, kind: str) -> float:
    return sample(samples, "phonepresence_source_errors_total", source, kind)


def latencies(samples: Samples, source: str, kind: str) -> float:
    return sample(samples, "phonepresence_source_seconds_count", source, kind)


def rows(reply: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in reply.splitlines() if ": " in line)


async def started(app: App) -> None:
    await ready(app)
    calendar, books = app.calendar, app.address_book_sync
    assert calendar is not None
    assert books is not None
    await wait_until(
        lambda: calendar.polls >= 3 and app.sources.figures("personal", "sync").requests >= 3,
        15,
        "every calendar and every user's address book read once",
    )


async def test_status_and_metrics_follow_each_source(
    prosody: ProsodyServer,
    sim: WazoSimulator,
    slapd: SlapdServer,
    dav: RadicaleServer,
    xmpp_client: ClientFactory,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    put_card(dav, COMPANY_OWNER, "marie", vcard("marie", "Marie Curie", ("WORK", "+33 1 40 00 00 09")))
    async with running_app(config(prosody, sim, slapd, dav, tmp_path / "s.sqlite")) as app:
        await started(app)
        carol = Chat(await xmpp_client("carol"), prosody.component)
        alice = Chat(await xmpp_client("alice"), prosody.component)

        before = await scrape(http, app)
        assert requests(before, "calendar", "poll") >= 3
        assert errors(before, "calendar", "poll") == 0
        assert latencies(before, "calendar", "poll") == requests(before, "calendar", "poll")
        assert requests(before, "company", "sync") >= 1
        assert requests(before, "personal", "sync") >= 3  # alice's, bob's and carol's books
        assert requests(before, "ldap", "search") == 0  # listed at zero before any search
        assert requests(before, "wazo", "search") == 0

        status = rows(await carol.say("status"))
        assert status["Calendar"].startswith("3 calendars followed, 0 unreadable; ")
        assert ", 0 errors; last success " in status["Calendar"]
        assert status["Directory, LDAP"] == "enabled, not searched yet; no searches yet"
        assert status["Directory, Wazo users"] == "no searches yet"
        assert status["Directory, address books"].startswith("4 of 4 books readable, 1 contacts, ")
        assert status["Directory, company book"].startswith("sync: ")
        assert status["Directory, company book"].endswith("Search: no searches yet")

        # A search asks every directory source once: each counted, with its latency.
        assert "Marie Curie" in await alice.say("call curie")
        await alice.say("cancel")
        after = await scrape(http, app)
        for source in ("wazo", "ldap", "company", "personal"):
            assert requests(after, source, "search") == 1, source
            assert latencies(after, source, "search") == 1, source
            assert errors(after, source, "search") == 0, source
        status = rows(await carol.say("status"))
        assert status["Directory, LDAP"].startswith("reachable at the last search; 1 searches, 0 errors; ")
        assert status["Directory, Wazo users"].startswith("1 searches, 0 errors; last success ")

        # LDAP stalls: the search misses the deadline, counted as an LDAP error and shown.
        slapd.pause()
        try:
            await alice.say("call zoe muller")
        finally:
            slapd.resume()
        await alice.say("cancel")
        stalled = await scrape(http, app)
        assert errors(stalled, "ldap", "search") == 1
        assert requests(stalled, "ldap", "search") == 2
        assert errors(stalled, "wazo", "search") == 0
        status = rows(await carol.say("status"))
        assert status["Directory, LDAP"].startswith("unreachable at the last search; 2 searches, 1 error; ")
        assert status["Directory, LDAP"].endswith("no answer within 1.5 s")

        # The calendar and CardDAV server goes away: the next poll and sync fail, and say so.
        dav.stop()
        calendar, books = app.calendar, app.address_book_sync
        assert calendar is not None
        assert books is not None
        await calendar.poll_user(ALICE_UUID)
        await books.sync_all()
        down = await scrape(http, app)
        assert errors(down, "calendar", "poll") == 1
        assert requests(down, "calendar", "poll") == requests(stalled, "calendar", "poll") + 1
        assert errors(down, "company", "sync") == 1
        status = rows(await carol.say("status"))
        assert status["Calendar"].startswith("3 calendars followed, 1 unreadable; ")
        assert ", 1 error; " in status["Calendar"]
        assert "last error less than 1 s ago: " in status["Calendar"]
        assert status["Directory, address books"].startswith("0 of 4 books readable, 1 contacts, ")

        # Not for bob: the admin nodes are forbidden and "status" in chat is refused.
        bob = await xmpp_client("bob")
        with pytest.raises(IqError) as refused:
            await Adhoc(bob, prosody.component).execute("admin-status")
        assert refused.value.iq["error"]["condition"] == "forbidden"
        assert "Calendar" not in await Chat(bob, prosody.component).say("status")


async def test_explain_user_shows_the_meeting_the_rule_and_the_routing_on_wazo(
    prosody: ProsodyServer,
    sim: WazoSimulator,
    slapd: SlapdServer,
    dav: RadicaleServer,
    xmpp_client: ClientFactory,
    tmp_path: Path,
) -> None:
    store = tmp_path / "s.sqlite"
    await save_settings(store, RuleSettings(meeting_calls=CallTarget(Target.VOICEMAIL)))
    now = datetime.now(UTC).replace(microsecond=0)
    end = now + timedelta(hours=1)
    dav.put_event("alice", "review", event("review", now - timedelta(minutes=5), end), CALENDAR)
    async with running_app(config(prosody, sim, slapd, dav, store)) as app:
        await started(app)
        await wait_until(lambda: sim.state()["users"]["alice"]["dnd"], 10, "alice's calls sent to voicemail")
        await wait_until(
            lambda: (record := app.call_rules.record(ALICE_UUID).override) is not None and record.confirmed,
            10,
            "the routing write confirmed",
        )
        carol = await xmpp_client("carol")
        iq = await Adhoc(carol, prosody.component).execute(
            "admin-explain-user", user=f"alice@{prosody.domain}"
        )
        explained = rows("\n".join(text for _level, text in iq["command"]["notes"]))
        assert explained["Meeting"] == (
            f"in a meeting until {end:%Y-%m-%d %H:%M} UTC; next change at {end:%Y-%m-%d %H:%M} UTC "
            "(1 busy periods known)"
        )
        assert explained["Rule in force"].startswith("meeting: a busy calendar event now")
        assert explained["Rule settings"] == (
            "meetings: show In a meeting, calls to voicemail; chat DND: calls to nowhere (the phone rings)"
        )
        assert explained["Routing on Wazo"] == (
            "set by the rules (applied): DND on, no forward; "
            "the user's own, restored afterwards: DND off, no forward"
        )
        assert explained["Calendar source"] == "read, 1 busy periods in the next 2 days"
        assert explained["Ring first"] == "your main line"

        # bob's explanation: no meeting, no rule, his own routing.
        iq = await Adhoc(carol, prosody.component).execute("admin-explain-user", user=f"bob@{prosody.domain}")
        explained = rows("\n".join(text for _level, text in iq["command"]["notes"]))
        assert explained["Meeting"] == "not in a meeting (0 busy periods known)"
        assert explained["Rule in force"].startswith("none: otherwise")
        assert explained["Routing on Wazo"] == "the user's own (the rules changed nothing)"

        # a non-admin cannot ask
        bob = await xmpp_client("bob")
        with pytest.raises(IqError) as refused:
            await Adhoc(bob, prosody.component).execute("admin-explain-user", user=f"alice@{prosody.domain}")
        assert refused.value.iq["error"]["condition"] == "forbidden"
