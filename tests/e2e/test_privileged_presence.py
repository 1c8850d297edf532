"""XEP-0356 mode on Prosody + mod_privilege: no subscription prompt, rosters filled by the component."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from presence.privacy import OwnerPrivacy
from tests.e2e.test_combined_presence import (
    ALICE_UUID,
    CAROL_UUID,
    SERVICE_PASSWORD,
    e2e_config,
    ready,
    reconnect_sends_only_what_is_needed,
    watcher_offline_during_a_change,
)
from tests.e2e.watch import PresenceWatch, component_barrier
from tests.xmpp.appctl import running_app, wait_online, wait_until
from wazo_sim.app import WazoSimulator
from wazo_sim.config import load_config as load_sim_config
from xmpp_component.config import Config


@pytest.fixture
async def sim() -> AsyncIterator[WazoSimulator]:
    async with WazoSimulator() as simulator:
        yield simulator


def provisioning_running() -> bool:
    """Whether the component's chat-presence provisioning (probes, roster writes, requests) runs."""
    return any(t.get_name() == "im-provisioning" and not t.done() for t in asyncio.all_tasks())


async def test_privileges_replace_prompts_and_fill_rosters(
    prosody_privileged: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    server = prosody_privileged
    alice_phone = f"alice@{server.component}"
    config = e2e_config(server, sim, tmp_path / "state.sqlite", roster_colleagues=True, privilege_grace=5.0)
    async with running_app(config) as app:
        await ready(app)
        assert app.intake is not None
        await wait_until(lambda: app.intake.privileged_presence, 10, "XEP-0356 presence privilege")
        assert app.intake.privileged_roster
        assert app.intake.mode == "privileged"

        assert app.rosters is not None
        await rosters_synced(app)
        alice = await connect_client(f"alice@{server.domain}", server.users["alice"], server.c2s_port)
        bob = await connect_client(f"bob@{server.domain}", server.users["bob"], server.c2s_port)
        try:
            prompts: list[str] = []
            alice.client_roster.auto_authorize = None  # she would never click "approve"
            alice.add_event_handler("presence_subscribe", lambda p: prompts.append(str(p["from"])))
            await alice.get_roster(timeout=5)
            alice.send_presence(pshow="away", pstatus="lunch")

            # The component learnt alice's chat presence without any subscription from her.
            await wait_until(
                lambda: app.hub.im(ALICE_UUID).show.value == "away", 10, "alice's forwarded presence"
            )

            # bob's roster already holds alice's phone JID (written by the component): logging in
            # is enough to see her, no click anywhere.
            watch = PresenceWatch(bob)
            await bob.get_roster(timeout=5)
            # "to": bob sees the phone JID; it needs nothing from him.
            assert bob.client_roster[alice_phone]["subscription"] == "to"
            assert "Phones" in bob.client_roster[alice_phone]["groups"]
            bob.send_presence()
            seen = await watch.wait_for(alice_phone, show="away", state="away")
            assert seen.status == "lunch"

            mark = watch.mark()
            sim.ring("alice", from_user="carol")
            await watch.wait_for(alice_phone, mark, show="dnd", state="ringing")

            # Subscription mode would ask at the end of the provisioning run (after the roster
            # writes): once it is over, any request is on the stream before the barrier's pongs.
            await wait_until(lambda: not provisioning_running(), 10, "the provisioning run to end")
            await component_barrier(alice, server.component)
            assert prompts == [], "no subscription prompt in privileged mode"
            assert app.store is not None
            assert await app.store.im_subscriptions() == {}, "nobody was asked"
        finally:
            await disconnect_client(alice)
            await disconnect_client(bob)


# --- helpers for the tests below ------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def login(server: ProsodyServer, user: str):  # type: ignore[no-untyped-def]
    return connect_client(f"{user}@{server.domain}", server.users[user], server.c2s_port)


async def fresh_login(server: ProsodyServer, user: str) -> Any:
    """Log in with no phone JIDs left in the roster by an earlier test (the server is shared)."""
    client = await login(server, user)
    for jid in await roster_of(client, server):
        if jid.split("@")[-1] == server.component:
            await client.del_roster_item(jid)
    return client


async def watch_phones(server: ProsodyServer, watcher: Any, *owners: str) -> PresenceWatch:
    """``watcher`` (logged in) subscribes to each owner's phone JID and gets its first presence."""
    watch = PresenceWatch(watcher)
    await watcher.get_roster(timeout=5)
    watcher.send_presence()
    for owner in owners:
        phone = f"{owner}@{server.component}"
        for attempt in (1, 2):
            mark = watch.mark()
            watcher.send_presence_subscription(pto=phone, ptype="subscribe")
            if await first_answer(watch, phone, mark) == "subscribed":
                break
            # The component's late answer to fresh_login's removal of this phone JID cancelled
            # the request (RFC 6121 3.2): asked once more; a second refusal is a real one.
            assert attempt == 1, f"{phone} refused the subscription"
    return watch


async def first_answer(watch: PresenceWatch, jid: str, since: int) -> str:
    """``subscribed`` or ``unsubscribed``, whichever ``jid`` sent first after index ``since``."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        for seen in watch.seen[since:]:
            if seen.frm.split("/")[0] == jid and seen.ptype in ("subscribed", "unsubscribed"):
                return seen.ptype
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no answer from {jid} to the subscription within 10 s")
        await asyncio.sleep(0.01)


def cli_config(server: ProsodyServer, sim: WazoSimulator, store: Path, path: Path) -> Path:
    path.write_text(
        f'[component]\njid = "{server.component}"\nserver_port = {server.component_port}\n'
        "reconnect_min_delay = 0.05\nreconnect_max_delay = 0.5\n"
        f'[store]\npath = "{store}"\n'
        f'[wazo]\nenabled = true\nbase_url = "{sim.base_url}"\nusername = "phonepresence"\n'
        '[presence]\nprivilege_grace = 5.0\n[logging]\nlevel = "debug"\n'
    )
    return path


async def start_cli(server: ProsodyServer, config: Path, log: Path) -> subprocess.Popen[bytes]:
    """The real ``phonepresence run`` in its own process, returned once it is connected."""
    env = {
        **server.environment_for_component(),
        "PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD,
        "PYTHONPATH": str(REPO),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "xmpp_component.cli", "run", "--config", str(config)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    await wait_until(
        lambda: "users provisioned from Wazo" in log.read_text() or process.poll() is not None,
        20,
        "the component process to read Wazo's users",
    )
    assert process.poll() is None, log.read_text()
    return process


def sim_without(username: str) -> WazoSimulator:
    """A simulator whose Wazo no longer has ``username`` (the user left the company)."""
    config = load_sim_config()
    return WazoSimulator(replace(config, users=tuple(u for u in config.users if u.username != username)))


def colleagues_config(server: ProsodyServer, sim: WazoSimulator, store: Path) -> Config:
    return e2e_config(server, sim, store, roster_colleagues=True, privilege_grace=5.0)


async def rosters_synced(app: Any) -> None:
    await wait_until(lambda: app.rosters.syncs >= 1, 10, "the rosters synchronised")


async def roster_of(client: Any, server: ProsodyServer) -> dict[str, str]:
    """The client's roster as the server has it now: jid -> subscription."""
    # A plain roster get (no version: slixmpp's get_roster may be answered "no change").
    result = await client.make_iq_get(queryxmlns="jabber:iq:roster").send(timeout=5)
    return {str(jid): item["subscription"] for jid, item in result["roster"]["items"].items()}


# --- chat presence learnt before provisioning, and after a crash -----------------------------------


async def test_users_online_before_the_component_starts_and_after_it_is_killed_keep_their_state(
    prosody_privileged: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    server = prosody_privileged
    alice_phone = f"alice@{server.component}"
    store = tmp_path / "state.sqlite"
    alice = await login(server, "alice")
    bob = await fresh_login(server, "bob")
    try:
        await alice.get_roster(timeout=5)
        alice.send_presence(pshow="away", pstatus="lunch")
        # The server sends the component alice's presence right after its handshake, before the
        # component has read Wazo's users: it must not be thrown away.
        config = cli_config(server, sim, store, tmp_path / "pp.toml")
        process = await start_cli(server, config, tmp_path / "1.log")
        try:
            watch = await watch_phones(server, bob, "alice")
            seen = await watch.wait_for(alice_phone, state="away")
            assert seen.status == "lunch"
        finally:
            process.kill()  # SIGKILL: no goodbye, no unavailable sent to anyone
            process.wait(10)
        # Restarted while alice stays online: bob sees her real chat state again, not "Reachable
        # by phone".
        mark = watch.mark()
        async with running_app(e2e_config(server, sim, store, privilege_grace=5.0)) as app:
            await ready(app)
            seen = await watch.wait_for(alice_phone, mark, state="away")
            assert seen.status == "lunch"
            await bob.plugin["xep_0199"].ping(server.domain, timeout=5)
            # Never "Reachable by phone" in between.
            assert {s.state for s in watch.from_(alice_phone, mark)} == {"away"}
    finally:
        await disconnect_client(alice)
        await disconnect_client(bob)


async def test_after_the_server_restarts_a_user_who_did_not_come_back_goes_offline(
    prosody_privileged: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    server = prosody_privileged
    alice_phone, carol_phone = f"alice@{server.component}", f"carol@{server.component}"
    async with running_app(e2e_config(server, sim, tmp_path / "state.sqlite", privilege_grace=5.0)) as app:
        await ready(app)
        assert app.intake is not None
        alice, carol = await login(server, "alice"), await login(server, "carol")
        bob = await fresh_login(server, "bob")
        for client, show in ((alice, "away"), (carol, "dnd")):
            await client.get_roster(timeout=5)
            client.send_presence(pshow=show)
        await watch_phones(server, bob, "alice", "carol")
        await wait_until(lambda: app.hub.im(CAROL_UUID).show.value == "dnd", 10, "carol's chat presence")
        await wait_until(lambda: app.hub.im(ALICE_UUID).show.value == "away", 10, "alice's chat presence")

        # The server crashes (nobody is told anything) and comes back; alice logs in again,
        # carol does not.
        for client in (alice, carol, bob):
            client.abort()
        server.kill()
        server.start()
        await wait_online(app, sessions=2, timeout=20)
        alice = await login(server, "alice")
        try:
            await alice.get_roster(timeout=5)
            alice.send_presence(pshow="xa", pstatus="back soon")
            # Probes and a ping round trip after the reconnection: carol, silent, is offline in
            # chat (her phone is still registered).
            bob = await login(server, "bob")
            watch = PresenceWatch(bob)
            await bob.get_roster(timeout=5)
            bob.send_presence()  # the server probes bob's contacts: the component answers
            await watch.wait_for(carol_phone, state="reachable_by_phone")
            await watch.wait_for(alice_phone, state="extended_away", status="back soon")
            assert app.hub.im(CAROL_UUID).show.value == "offline"
        finally:
            await disconnect_client(alice)
            await disconnect_client(bob)


# --- rosters -------------------------------------------------------------------------------------


async def test_an_unsubscribe_lost_while_the_component_was_down_is_reconciled(
    prosody_privileged: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    server = prosody_privileged
    alice_phone = f"alice@{server.component}"
    bob_jid = f"bob@{server.domain}"
    store = tmp_path / "state.sqlite"
    config = e2e_config(server, sim, store, privilege_grace=5.0)
    bob = await fresh_login(server, "bob")
    try:
        async with running_app(config) as app:
            await ready(app)
            await watch_phones(server, bob, "alice")
            assert app.subscriptions is not None
            assert app.subscriptions.is_subscribed("alice", bob_jid)
        # While the component is down, bob deletes alice's phone JID: the server's unsubscribe
        # to the component bounces.
        await bob.del_roster_item(alice_phone)
        await bob.plugin["xep_0199"].ping(server.domain, timeout=5)
        async with running_app(config) as app:
            await ready(app)
            assert app.rosters is not None
            await rosters_synced(app)
            assert app.subscriptions is not None
            assert not app.subscriptions.is_subscribed("alice", bob_jid)
    finally:
        await disconnect_client(bob)


async def test_a_hidden_user_is_never_written_into_rosters_and_leaves_them_when_she_hides(
    prosody_privileged: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    server = prosody_privileged
    carol_phone, alice_phone = f"carol@{server.component}", f"alice@{server.component}"
    carol_jid, bob_jid = f"carol@{server.domain}", f"bob@{server.domain}"
    store = tmp_path / "state.sqlite"
    config = colleagues_config(server, sim, store)
    bob = await fresh_login(server, "bob")
    try:
        async with running_app(config) as app:
            await ready(app)
            assert app.rosters is not None
            await rosters_synced(app)
            roster = await roster_of(bob, server)
            assert roster.get(carol_phone) == "to"
            assert app.subscriptions is not None
            assert app.subscriptions.is_subscribed("carol", bob_jid)

            # carol hides her phone from everyone: her phone JID leaves every roster at once.
            await app.settings.set_privacy(CAROL_UUID, carol_jid, OwnerPrivacy(hidden=True))
            await asyncio.wait_for(app.rosters.settled(), 10)
            roster = await roster_of(bob, server)
            assert carol_phone not in roster
            assert roster.get(alice_phone) == "to"
            assert not app.subscriptions.is_subscribed("carol", bob_jid)

        # Reconnecting does not expose her again.
        async with running_app(config) as app:
            await ready(app)
            assert app.rosters is not None
            await rosters_synced(app)
            assert carol_phone not in await roster_of(bob, server)
            assert app.subscriptions is not None
            assert not app.subscriptions.is_subscribed("carol", bob_jid)
    finally:
        await disconnect_client(bob)


@contextlib.asynccontextmanager
async def bob_with_written_roster(
    server: ProsodyServer, sim: WazoSimulator, store: Path
) -> AsyncIterator[tuple[Any, list[str]]]:
    """bob online, his roster written once by the component (colleagues on); yields him and the
    roster pushes his client gets from then on."""
    bob = await fresh_login(server, "bob")
    pushes: list[str] = []
    bob.add_event_handler("roster_update", lambda iq: pushes.extend(str(j) for j in iq["roster"]["items"]))
    try:
        async with running_app(colleagues_config(server, sim, store)) as app:
            await ready(app)
            await rosters_synced(app)
            roster = await roster_of(bob, server)
            assert roster.get(f"alice@{server.component}") == "to"
            assert roster.get(f"carol@{server.component}") == "to"
            assert roster.get(server.component) == "both"
        await bob.plugin["xep_0199"].ping(server.domain, timeout=5)  # every push is in
        pushes.clear()
        yield bob, pushes
    finally:
        await disconnect_client(bob)


async def test_a_reconnect_with_nothing_changed_writes_nothing(
    prosody_privileged: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    server = prosody_privileged
    store = tmp_path / "state.sqlite"
    async with (
        bob_with_written_roster(server, sim, store) as (bob, pushes),
        running_app(colleagues_config(server, sim, store)) as app,
    ):
        await ready(app)
        await rosters_synced(app)
        await bob.plugin["xep_0199"].ping(server.domain, timeout=5)  # pushes come before the pong
        assert pushes == []
        assert app.rosters is not None
        assert app.rosters.writes == 0
        assert app.rosters.reads >= 3  # alice's, bob's and carol's rosters were read


async def test_a_phone_jid_the_user_deleted_is_not_put_back(
    prosody_privileged: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    server = prosody_privileged
    alice_phone = f"alice@{server.component}"
    store = tmp_path / "state.sqlite"
    async with bob_with_written_roster(server, sim, store) as (bob, pushes):
        await bob.del_roster_item(alice_phone)
        await bob.plugin["xep_0199"].ping(server.domain, timeout=5)
        pushes.clear()  # the server's push of bob's own removal
        for _restart in range(2):  # remembered, not just skipped once
            async with running_app(colleagues_config(server, sim, store)) as app:
                await ready(app)
                await rosters_synced(app)
                await bob.plugin["xep_0199"].ping(server.domain, timeout=5)
                assert alice_phone not in await roster_of(bob, server)
                assert pushes == []
                assert app.subscriptions is not None
                assert not app.subscriptions.is_subscribed("alice", f"bob@{server.domain}")


async def test_a_colleague_who_left_wazo_leaves_the_rosters(
    prosody_privileged: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    server = prosody_privileged
    carol_phone = f"carol@{server.component}"
    store = tmp_path / "state.sqlite"
    async with (
        bob_with_written_roster(server, sim, store) as (bob, _pushes),
        sim_without("carol") as smaller,
        running_app(colleagues_config(server, smaller, store)) as app,
    ):
        await ready(app)
        await rosters_synced(app)
        roster = await roster_of(bob, server)
        assert carol_phone not in roster
        assert roster.get(f"alice@{server.component}") == "to"
        assert app.subscriptions is not None
        assert not app.subscriptions.is_subscribed("carol", f"bob@{server.domain}")


def sim_with_dave() -> WazoSimulator:
    """The simulator plus dave (dave@example.test), a Wazo user with no chat account yet."""
    config = load_sim_config()
    carol = next(u for u in config.users if u.username == "carol")
    dave = replace(
        carol,
        id=carol.id + 100,
        uuid="44444444-4444-4444-8444-444444444444",
        firstname="Dave",
        lastname="Davies",
        email="dave@example.test",
        username="dave",
        lines=(),
        voicemail_id=None,
        mobile_phone_number="",
    )
    return WazoSimulator(replace(config, users=(*config.users, dave)))


async def test_a_watcher_offline_during_a_change_is_not_sent_it_and_sees_it_at_login(
    prosody_privileged: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    async with running_app(e2e_config(prosody_privileged, sim, tmp_path / "state.sqlite")) as app:
        await ready(app)
        assert app.intake is not None
        await wait_until(lambda: app.intake.privileged_presence, 10, "XEP-0356 presence privilege")
        await watcher_offline_during_a_change(app, prosody_privileged, sim)


async def test_after_a_reconnect_a_watcher_who_stayed_gets_only_what_changed(
    prosody_privileged: ProsodyServer, sim: WazoSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await reconnect_sends_only_what_is_needed(prosody_privileged, sim, tmp_path, monkeypatch)
