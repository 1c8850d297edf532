""" "call <name>" over the wire with colleagues (Wazo simulator) and the company directory (a real
slapd): results from both in one list, and a stalled LDAP (SIGSTOP) answered around by the
deadline with a note."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devservers.carddav import COMPANY_OWNER, COMPANY_PASSWORD, make_address_book, put_card, vcard
from devservers.prosody import ProsodyServer
from devservers.radicale import USERS, RadicaleServer
from devservers.slapd import PEOPLE_DN, SlapdServer
from devservers.xmpp_client import connect_client, disconnect_client
from presence.directory.address_book import personal_book
from tests.commands.harness import RecordingSimulator, two_bobs_world
from tests.commands.test_click_to_call import Chat
from tests.e2e.test_combined_presence import SERVICE_PASSWORD, ready
from tests.xmpp.appctl import component_config, running_app, wait_until
from xmpp_component.config import Config

pytestmark = pytest.mark.server


@pytest.fixture
async def sim() -> AsyncIterator[RecordingSimulator]:
    async with RecordingSimulator(two_bobs_world()) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = RadicaleServer(tmp_path_factory.mktemp("radicale-books"))
    server.users = {**USERS, COMPANY_OWNER: COMPANY_PASSWORD}
    server.start()  # raises (failing the tests) if Radicale cannot start: never a skip
    try:
        for owner in (COMPANY_OWNER, "alice", "bob"):
            make_address_book(server, owner)
        yield server
    finally:
        server.stop()


@pytest.fixture
async def login(prosody: ProsodyServer) -> AsyncIterator[Any]:
    clients: list[Any] = []

    async def connect(user: str) -> Any:
        client = await connect_client(f"{user}@{prosody.domain}", prosody.users[user], prosody.c2s_port)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await disconnect_client(client)


def config_with_ldap(
    prosody: ProsodyServer,
    sim: RecordingSimulator,
    slapd: SlapdServer,
    store: Path,
    dav: RadicaleServer | None = None,
) -> Config:
    books: dict[str, object] = {}
    if dav is not None:
        books = {
            "carddav": {
                "enabled": True,
                "company_url": f"{dav.base_url}/{COMPANY_OWNER}/contacts/",
                "personal_url_template": f"{dav.base_url}/{{localpart}}/contacts/",
                "username": dav.service_user,
                "password_env": "TEST_CARDDAV_PASSWORD",
            }
        }
    return component_config(
        prosody,
        store,
        wazo={"enabled": True, "base_url": sim.base_url, "username": "phonepresence"},
        presence={"privilege_grace": 0.3},
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
                "timeout": 10.0,  # longer than the deadline: the deadline must cut it short
            },
            **books,
        },
        env={
            "PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD,
            "TEST_LDAP_PASSWORD": slapd.reader_password,
            "TEST_CARDDAV_PASSWORD": dav.service_password if dav else "",
        },
    )


async def test_call_by_name_finds_colleagues_and_the_company_directory(
    prosody: ProsodyServer, sim: RecordingSimulator, slapd: SlapdServer, login: Any, tmp_path: Path
) -> None:
    async with running_app(config_with_ldap(prosody, sim, slapd, tmp_path / "s.sqlite")) as app:
        await ready(app)
        chat = Chat(await login("alice"), prosody.component)
        link = f"xmpp:{prosody.component}?command;node=call;number="

        reply = await chat.say("call curie")
        assert reply.splitlines()[:3] == [
            "2 numbers match 'curie'.",
            f"1. Marie Curie — +33 1 55 50 01 02 (work, company directory)  {link}%2B33155500102",
            f"2. Marie Curie — +33 6 55 50 01 02 (mobile, company directory)  {link}%2B33655500102",
        ]
        # the number goes to calld in E.164 (the simulator's PBX reaches only its own users, so it
        # refuses this outside number: what matters here is what was asked of it)
        assert "+33 6 55 50 01 02" in await chat.say("2")
        assert sim.originations[-1]["destination"]["extension"] == "+33655500102"

        # accents: "zoe muller" reaches Zoë Müller of the LDAP
        reply = await chat.say("call zoe muller")
        assert "Zoë Müller — 2100 (extension, company directory)" in reply
        await chat.say("cancel")

        # LDAP stalled: colleagues still answer within the deadline, with a note
        slapd.pause()
        try:
            started = time.monotonic()
            reply = await chat.say("call bob")
            elapsed = time.monotonic() - started
        finally:
            slapd.resume()
        lines = reply.splitlines()
        assert lines[:2] == ["company directory unavailable", "3 numbers match 'bob'."], reply
        assert lines[2].startswith("1. Bob Brown — 1002 (extension)")
        assert elapsed < 9  # the deadline (1.5 s) answered, not the LDAP timeout (10 s)
        await chat.say("cancel")


async def test_three_sources_ranked_one_row_per_number_personal_only_for_its_owner(
    prosody: ProsodyServer,
    sim: RecordingSimulator,
    slapd: SlapdServer,
    dav: RadicaleServer,
    login: Any,
    tmp_path: Path,
) -> None:
    # alice's own card for Marie Curie: LDAP's work number in national notation (same E.164)
    put_card(dav, "alice", "marie", vcard("marie", "Marie Curie", ("WORK", "01 55 50 01 02")))
    # the company book repeats LDAP's mobile and adds a number of its own
    put_card(
        dav,
        COMPANY_OWNER,
        "marie",
        vcard("marie", "Marie Curie", ("CELL", "+33655500102"), ("WORK", "+33 1 40 00 00 09")),
    )
    put_card(dav, COMPANY_OWNER, "bob", vcard("bob", "Bob Brown", ("WORK", "1002")))  # = colleague's
    config = config_with_ldap(prosody, sim, slapd, tmp_path / "s.sqlite", dav)
    async with running_app(config) as app:
        await ready(app)
        books = app.commands.address_books
        assert books is not None
        await wait_until(
            lambda: books.contacts(personal_book("alice@example.test")) and books.contacts("company"),
            10,
            "the address books synced",
        )
        alice = Chat(await login("alice"), prosody.component)
        link = f"xmpp:{prosody.component}?command;node=call;number="
        assert (await alice.say("call marie curie")).splitlines() == [
            "3 numbers match 'marie curie'.",
            f"1. Marie Curie — 01 55 50 01 02 (work, your contacts)  {link}%2B33155500102",
            f"2. Marie Curie — +33 6 55 50 01 02 (mobile, company directory)  {link}%2B33655500102",
            f"3. Marie Curie — +33 1 40 00 00 09 (work, company address book)  {link}%2B33140000009",
            "Reply with a number from 1 to 3, or cancel.",
        ]
        await alice.say("cancel")
        # the same number from the colleagues and the company book: one row, the colleague's
        reply = await alice.say("call bob brown")
        assert reply.startswith("Calling Bob Brown (1002)"), reply
        sim.hangup(user="alice")

        bob = Chat(await login("bob"), prosody.component)
        lines = (await bob.say("call marie curie")).splitlines()
        assert lines[0] == "3 numbers match 'marie curie'."
        assert "your contacts" not in "\n".join(lines)  # alice's card is hers alone
        assert lines[1].startswith("1. Marie Curie — +33 1 55 50 01 02 (work, company directory)")
        await bob.say("cancel")


async def test_short_queries_and_search_floods_are_refused(
    prosody: ProsodyServer, sim: RecordingSimulator, slapd: SlapdServer, login: Any, tmp_path: Path
) -> None:
    config = config_with_ldap(prosody, sim, slapd, tmp_path / "s.sqlite")
    directory = type(config.directory)(min_query_length=3, searches_per_minute=2)
    config = type(config)(**{**config.__dict__, "directory": directory})
    async with running_app(config) as app:
        await ready(app)
        chat = Chat(await login("alice"), prosody.component)
        reply = await chat.say("call zo")
        assert reply.splitlines()[0] == "Number, extension or name: type at least 3 letters of a name"
        await chat.say("cancel")
        assert "Zoë Müller" in await chat.say("call zoe muller")
        await chat.say("cancel")
        assert "Marie Curie" in await chat.say("call curie")
        await chat.say("cancel")
        reply = await chat.say("call curie")
        assert reply.startswith("Sorry: Too many searches; try again in "), reply


async def test_a_name_found_outside_the_phone_system_is_confirmed_in_chat_before_dialling(
    prosody: ProsodyServer,
    sim: RecordingSimulator,
    slapd: SlapdServer,
    dav: RadicaleServer,
    login: Any,
    tmp_path: Path,
) -> None:
    put_card(dav, COMPANY_OWNER, "ada", vcard("ada", "Ada Lovelace", ("WORK", "+44 20 7946 0001")))
    config = config_with_ldap(prosody, sim, slapd, tmp_path / "s.sqlite", dav)
    async with running_app(config) as app:
        await ready(app)
        books = app.commands.address_books
        assert books is not None
        await wait_until(lambda: books.contacts("company"), 10, "the company book synced")
        chat = Chat(await login("alice"), prosody.component)

        # one match in the company directory (LDAP): asked, "yes" dials
        reply = await chat.say("call alan turing")
        assert reply.splitlines()[-1] == (
            "Call Alan Turing at +44 20 7946 0104 (work, company directory), "
            "dialled as +442079460104? (yes/no)"
        ), reply
        calls = len(sim.originations)
        assert await chat.say("maybe") == "Reply yes to call, or no."  # anything else asks again
        assert len(sim.originations) == calls
        reply = await chat.say("yes")
        # asked of calld (the simulator's PBX reaches only its own users: it refuses this number)
        assert "+44 20 7946 0104" in reply, reply
        assert len(sim.originations) == calls + 1
        assert sim.originations[-1]["destination"]["extension"] == "+442079460104"

        # one match in the company address book: "no" cancels, nothing is dialled
        reply = await chat.say("call lovelace")
        assert reply.splitlines()[-1].startswith(
            "Call Ada Lovelace at +44 20 7946 0001 (work, company address book)"
        )
        assert reply.endswith("? (yes/no)")
        assert await chat.say("no") == "Cancelled: nothing was done."
        assert len(sim.originations) == calls + 1

        # the question expires: a late "yes" dials nobody
        assert (await chat.say("call lovelace")).endswith("? (yes/no)")
        later = app.commands.chat._clock() + 121
        app.commands.chat._clock = lambda: later
        assert await chat.say("yes") == "That question has expired: nothing was done. Send the command again."
        assert len(sim.originations) == calls + 1
        # ... counted from the question: a reply that is not an answer does not restart the wait
        assert (await chat.say("call lovelace")).endswith("? (yes/no)")
        app.commands.chat._clock = lambda: later + 100
        assert await chat.say("maybe") == "Reply yes to call, or no."
        app.commands.chat._clock = lambda: later + 125
        assert await chat.say("yes") == "That question has expired: nothing was done. Send the command again."
        assert len(sim.originations) == calls + 1

        # a colleague found by name is dialled at once, as typed
        reply = await chat.say("call bob brown")
        assert reply.startswith("Calling Bob Brown (1002)"), reply
        assert len(sim.originations) == calls + 2
