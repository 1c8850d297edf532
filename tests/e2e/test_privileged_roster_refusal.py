"""XEP-0356 roster writing when the server refuses a push: on its own Prosody, because the test
creates and deletes an account and leaves colleagues' roster items behind, which later tests of a
shared server must not inherit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from tests.e2e.test_combined_presence import ready
from tests.e2e.test_privileged_presence import colleagues_config, roster_of, rosters_synced, sim_with_dave
from tests.xmpp.appctl import running_app

pytestmark = pytest.mark.server


async def test_a_roster_push_the_server_refuses_is_not_recorded_and_is_retried_next_time(
    prosody_privileged: ProsodyServer, tmp_path: Path
) -> None:
    server = prosody_privileged
    dave_jid = f"dave@{server.domain}"
    store = tmp_path / "state.sqlite"
    phones = {f"{who}@{server.component}" for who in ("alice", "bob", "carol")}
    async with sim_with_dave() as sim:
        # dave has no account on the chat server yet: his roster reads empty, every write into it
        # is refused.
        async with running_app(colleagues_config(server, sim, store)) as app:
            await ready(app)
            assert app.rosters is not None
            assert app.store is not None
            assert app.subscriptions is not None
            await rosters_synced(app)
            assert app.rosters.writes >= 1  # a write was tried, and refused
            assert await app.store.roster_items(dave_jid) == []
            for phone in phones:
                assert not app.subscriptions.is_subscribed(phone.split("@")[0], dave_jid)
        server.register("dave", "dave-pass")
        try:
            async with running_app(colleagues_config(server, sim, store)) as app:
                await ready(app)
                assert app.rosters is not None
                assert app.store is not None
                assert app.subscriptions is not None
                await rosters_synced(app)
                rows = await app.store.roster_items(dave_jid)
                written = {item for item, state, _ in rows if state == "written"}
                assert written == {*phones, server.component}
                for phone in phones:
                    assert app.subscriptions.is_subscribed(phone.split("@")[0], dave_jid)
                dave = await connect_client(dave_jid, "dave-pass", server.c2s_port)
                try:
                    roster = await roster_of(dave, server)
                finally:
                    await disconnect_client(dave)
                assert {jid: roster.get(jid) for jid in phones} == dict.fromkeys(phones, "to")
        finally:
            subprocess.run(
                ["prosodyctl", "--config", str(server.config_path), "deluser", dave_jid],
                capture_output=True,
                timeout=30,
                check=False,
            )
