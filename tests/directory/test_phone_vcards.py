"""vcard-temp on phone JIDs, over the wire: a colleague's card has their name and numbers; a user
of another domain (not allowed to see the phone JID) and an unknown phone JID get item-not-found."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from slixmpp.exceptions import IqError

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from tests.commands.harness import RecordingSimulator, two_bobs_world
from tests.e2e.test_combined_presence import e2e_config, ready
from tests.xmpp.appctl import running_app

pytestmark = pytest.mark.server
NS = "{vcard-temp}"


@pytest.fixture
async def sim() -> AsyncIterator[RecordingSimulator]:
    async with RecordingSimulator(two_bobs_world()) as simulator:
        yield simulator


async def vcard_of(client: Any, jid: str) -> ET.Element:
    iq = client.make_iq_get(ito=jid)
    iq.append(ET.Element(f"{NS}vCard"))
    reply = await iq.send(timeout=10)
    card = reply.xml.find(f"{NS}vCard")
    assert card is not None
    return card


async def test_phone_jids_answer_vcard_temp(
    prosody: ProsodyServer, sim: RecordingSimulator, tmp_path: Path
) -> None:
    async with running_app(e2e_config(prosody, sim, tmp_path / "s.sqlite")) as app:
        await ready(app)
        alice = await connect_client(f"alice@{prosody.domain}", prosody.users["alice"], prosody.c2s_port)
        mallory = await connect_client(
            f"mallory@{prosody.other_domain}", prosody.other_users["mallory"], prosody.c2s_port
        )
        try:
            card = await vcard_of(alice, f"bob@{prosody.component}")
            assert card.findtext(f"{NS}FN") == "Bob Brown"
            assert card.findtext(f"{NS}N/{NS}FAMILY") == "Brown"
            tels = [
                (
                    tel.findtext(f"{NS}NUMBER"),
                    sorted(
                        child.tag.removeprefix(NS) for child in tel if len(child) == 0 and child.text is None
                    ),
                )
                for tel in card.findall(f"{NS}TEL")
            ]
            assert tels == [("1002", ["VOICE", "WORK"])]
            for who, jid in ((mallory, f"bob@{prosody.component}"), (alice, f"nobody@{prosody.component}")):
                with pytest.raises(IqError) as refused:
                    await vcard_of(who, jid)
                assert refused.value.condition == "item-not-found"
        finally:
            await disconnect_client(alice)
            await disconnect_client(mallory)
