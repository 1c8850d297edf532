"""The administrators' commands over the wire: an admin (carol) sees and runs Status, Explain user,
Resync now, Unmatched users and Reload configuration; a non-admin (bob) sees none of them and gets
``forbidden``. Reload (command and SIGHUP) applies the live keys and names those needing a restart."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from slixmpp.exceptions import IqError

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from tests.commands.harness import Adhoc, notes, status
from tests.e2e.test_combined_presence import SERVICE_PASSWORD, ready
from tests.xmpp.appctl import running_app, wait_until
from wazo_sim.app import WazoSimulator
from xmpp_component.app import App
from xmpp_component.config import Config, load_config

COMMANDS = "http://jabber.org/protocol/commands"
ADMIN_NODES = {"admin-status", "admin-explain-user", "admin-resync", "admin-unmatched", "admin-reload"}


def write_config(
    path: Path, server: ProsodyServer, sim: WazoSimulator, admins: list[str], extra: str = ""
) -> Config:
    """A real configuration file (reload reads it again), secrets in files beside it."""
    (path.parent / "secret").write_text(server.component_secret)
    (path.parent / "wazo-password").write_text(SERVICE_PASSWORD)
    admin_list = ", ".join(f'"{a}"' for a in admins)
    path.write_text(
        f"""
[component]
jid = "{server.component}"
server_port = {server.component_port}
reconnect_min_delay = 0.05
reconnect_max_delay = 0.5
secret_file = "{path.parent / "secret"}"
admins = [{admin_list}]

[store]
path = "{path.parent / "state.sqlite"}"

[wazo]
enabled = true
base_url = "{sim.base_url}"
username = "phonepresence"
password_file = "{path.parent / "wazo-password"}"
{extra}

[presence]
privilege_grace = 0.3

[ops]
port = 0
"""
    )
    return load_config(path)


@pytest.fixture
async def sim() -> AsyncIterator[WazoSimulator]:
    async with WazoSimulator() as simulator:
        yield simulator


def items(iq: object) -> set[str]:
    return {item[1] for item in iq["disco_items"]["items"]}  # type: ignore[index]


def text(iq: object) -> str:
    return "\n".join(t for _level, t in notes(iq))


async def test_admin_commands_for_an_admin_and_forbidden_for_anyone_else(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    domain = prosody.domain
    path = tmp_path / "phonepresence.toml"
    config = write_config(path, prosody, sim, [f"carol@{domain}"])
    bob = await connect_client(f"bob@{domain}", prosody.users["bob"], prosody.c2s_port)
    carol = await connect_client(f"carol@{domain}", prosody.users["carol"], prosody.c2s_port)
    root_level = logging.getLogger().level
    try:
        async with running_app(config) as app:
            await ready(app)
            disco = carol.plugin["xep_0030"]

            # bob: nothing listed, every node forbidden, nothing ran.
            listed = items(await bob.plugin["xep_0030"].get_items(jid=prosody.component, node=COMMANDS))
            assert not listed & ADMIN_NODES
            for node in sorted(ADMIN_NODES):
                with pytest.raises(IqError) as refused:
                    await Adhoc(bob, prosody.component).execute(node)
                assert refused.value.iq["error"]["condition"] == "forbidden", node
            assert app.admin.reloads == 0

            # The chat face says the same to bob, and answers carol.
            bob_replies: asyncio.Queue[str] = asyncio.Queue()
            bob.add_event_handler("message", lambda msg: bob_replies.put_nowait(str(msg["body"])))
            bob.send_message(mto=prosody.component, mbody="status", mtype="chat")
            assert await asyncio.wait_for(bob_replies.get(), 10) == (
                "Sorry: Only the service's administrators may run this command."
            )
            carol_replies: asyncio.Queue[str] = asyncio.Queue()
            carol.add_event_handler("message", lambda msg: carol_replies.put_nowait(str(msg["body"])))
            carol.send_message(mto=prosody.component, mbody="status", mtype="chat")
            assert "Users provisioned: 3" in await asyncio.wait_for(carol_replies.get(), 10)

            # carol: every admin node listed.
            assert items(await disco.get_items(jid=prosody.component, node=COMMANDS)) >= ADMIN_NODES

            iq = await Adhoc(carol, prosody.component).execute("admin-status")
            assert status(iq) == "completed"
            report = text(iq)
            assert "XMPP link: up, 0 reconnections" in report
            assert "Wazo event stream: synchronised" in report
            assert "Users provisioned: 3" in report
            assert "Users unmatched: 0" in report
            assert "Store: SQLite" in report

            # A new hire whose address is in no chat domain of ours: unmatched, with the reason.
            dave = sim.create_user(
                {"id": 50, "username": "dave", "password": "pw", "email": "dave@elsewhere.test"}
            )
            await wait_until(lambda: len(app.unmatched) == 1, 10, "dave read and left unmatched")
            iq = await Adhoc(carol, prosody.component).execute("admin-unmatched")
            assert text(iq) == (
                f"1 Wazo users have no phone JID:\n{dave['uuid']}: no chat JID by email "
                "(email 'dave@elsewhere.test')"
            )

            # Explain user: a ringing call shows, with the presence that won.
            sim.ring("alice", from_number="0600")
            await wait_until(lambda: bool((app.hub.phone(alice_uuid(app)) or _no()).calls), 10, "ring")
            iq = await Adhoc(carol, prosody.component).execute("admin-explain-user", user=f"alice@{domain}")
            assert status(iq) == "completed"
            explained = text(iq)
            assert f"Chat JID: alice@{domain}" in explained
            assert f"Phone JID: alice@{prosody.component}" in explained
            assert "ringing" in explained
            assert "Published: dnd: Ringing (activity ringing)" in explained
            assert "Why: a line rings (incoming call)" in explained
            assert "Watchers: 0" in explained
            # An unknown user: the field is named, nothing else happens.
            adhoc = Adhoc(carol, prosody.component)
            iq = await adhoc.execute("admin-explain-user")
            assert status(iq) == "executing"
            iq = await adhoc.act("complete", user="nobody@nowhere.test")
            assert notes(iq) == [
                (
                    "error",
                    "User (chat address, phone JID or Wazo uuid): no provisioned user "
                    "nobody@nowhere.test (see Unmatched users)",
                )
            ]

            # Resync now reads users and states again.
            reads = sim.core.user_list_reads
            iq = await Adhoc(carol, prosody.component).execute("admin-resync")
            assert text(iq).startswith("Read 3 users, ")
            assert sim.core.user_list_reads > reads

            # Reload: the admins list applies now; a Wazo timeout needs a restart.
            write_config(path, prosody, sim, [f"carol@{domain}", f"bob@{domain}"], "request_timeout = 7.0")
            iq = await Adhoc(carol, prosody.component).execute("admin-reload")
            assert notes(iq) == [
                (
                    "info",
                    "Applied: component.admins. Changed but needs a restart: wazo.request_timeout.",
                )
            ]
            assert app.config.wazo.request_timeout == config.wazo.request_timeout  # kept
            listed = items(await bob.plugin["xep_0030"].get_items(jid=prosody.component, node=COMMANDS))
            assert listed >= ADMIN_NODES  # bob is an admin now, without a restart

            # A broken file is refused with the key named; the running configuration stays.
            path.write_text(path.read_text().replace("privilege_grace = 0.3", "privilege_grace = -1"))
            iq = await Adhoc(carol, prosody.component).execute("admin-reload")
            assert notes(iq)[0][0] == "error"
            assert "presence.privilege_grace" in notes(iq)[0][1]
            assert "The running configuration is kept." in notes(iq)[0][1]
            assert f"bob@{domain}" in app.config.component.admins
            assert await carol.plugin["xep_0199"].ping(prosody.component, timeout=5) >= 0
    finally:
        logging.getLogger().setLevel(root_level)
        for client in (bob, carol):
            await disconnect_client(client)


def alice_uuid(app: App) -> str:
    return next(p.wazo_uuid for p in app.people.by_uuid.values() if p.localpart == "alice")


def _no() -> object:
    class _Empty:
        calls = ()

    return _Empty()


async def test_sighup_reloads_the_configuration(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    path = tmp_path / "phonepresence.toml"
    config = write_config(path, prosody, sim, [f"carol@{prosody.domain}"])
    root_level = logging.getLogger().level
    app = App(config)
    task = asyncio.create_task(app.run(install_signal_handlers=True))
    try:
        await asyncio.wait_for(app.started.wait(), 10)
        await ready(app)
        write_config(path, prosody, sim, [f"bob@{prosody.domain}"], "")
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_until(lambda: app.admin.reloads == 1, 10, "the reload after SIGHUP")
        assert app.config.component.admins == (f"bob@{prosody.domain}",)
        assert app.commands.services.admins == frozenset({f"bob@{prosody.domain}"})
    finally:
        app.request_stop()
        await asyncio.wait_for(task, 15)
        logging.getLogger().setLevel(root_level)
    # The handler is gone with the app: SIGHUP is back to its default.
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL
