""" "call <name>" over the wire with colleagues (Wazo simulator) and the company directory (a real
slapd): results from both in one list, and a stalled LDAP (SIGSTOP) answered around by the
deadline with a note."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devservers.prosody import ProsodyServer
from devservers.slapd import PEOPLE_DN, SlapdServer
from devservers.xmpp_client import connect_client, disconnect_client
from tests.commands.harness import RecordingSimulator, two_bobs_world
from tests.commands.test_click_to_call import Chat
from tests.e2e.test_combined_presence import SERVICE_PASSWORD, ready
from tests.xmpp.appctl import component_config, running_app
from xmpp_component.config import Config

pytestmark = pytest.mark.server


@pytest.fixture
async def sim() -> AsyncIterator[RecordingSimulator]:
    async with RecordingSimulator(two_bobs_world()) as simulator:
        yield simulator


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
    prosody: ProsodyServer, sim: RecordingSimulator, slapd: SlapdServer, store: Path
) -> Config:
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
        },
        env={"PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD, "TEST_LDAP_PASSWORD": slapd.reader_password},
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
