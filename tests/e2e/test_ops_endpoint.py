"""The HTTP ops endpoint, read with a real HTTP client: /healthz answers, /readyz is 503 until the
XMPP link and the Wazo stream are up, and /metrics (parsed with prometheus-client's own parser)
moves when what it counts happens."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from slixmpp.exceptions import IqError

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from tests.commands.harness import Adhoc, notes
from tests.e2e.test_combined_presence import SERVICE_PASSWORD, ready
from tests.e2e.watch import PresenceWatch
from tests.xmpp.appctl import component_config, running_app, wait_online
from wazo_sim.app import WazoSimulator
from xmpp_component.app import App
from xmpp_component.config import Config


def config(server: ProsodyServer, sim: WazoSimulator, store: Path, **component: object) -> Config:
    return component_config(
        server,
        store,
        component=component,
        wazo={"enabled": True, "base_url": sim.base_url, "username": "phonepresence"},
        presence={"privilege_grace": 0.3},
        ops={"enabled": True, "port": 0},
        env={"PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD},
    )


@pytest.fixture
async def sim() -> AsyncIterator[WazoSimulator]:
    async with WazoSimulator() as simulator:
        yield simulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def base(app: App) -> str:
    assert app.ops is not None
    assert app.ops.port
    return f"http://127.0.0.1:{app.ops.port}"


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as response:
        return response.status, await response.text()


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: aiohttp.ClientSession, app: App) -> Samples:
    status, text = await get(http, base(app) + "/metrics")
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def until_ready(http: aiohttp.ClientSession, app: App) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while (await get(http, base(app) + "/readyz"))[0] != 200:
        assert asyncio.get_running_loop().time() < deadline, "/readyz never became 200"
        await asyncio.sleep(0.05)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_readyz_is_503_while_the_xmpp_link_is_down(
    prosody: ProsodyServer, sim: WazoSimulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    nowhere = config(prosody, sim, tmp_path / "state.sqlite", server_port=closed_port())
    async with running_app(nowhere) as app:
        assert await get(http, base(app) + "/healthz") == (200, "ok\n")
        status, body = await get(http, base(app) + "/readyz")
        assert status == 503
        assert "XMPP link down" in body


async def test_metrics_move_when_things_happen(
    prosody: ProsodyServer, sim: WazoSimulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    alice_phone = f"alice@{prosody.component}"
    bob = await connect_client(f"bob@{prosody.domain}", prosody.users["bob"], prosody.c2s_port)
    watch = PresenceWatch(bob)
    try:
        await bob.get_roster(timeout=5)
        if alice_phone in bob.client_roster:  # left by another test on this server
            await bob.del_roster_item(alice_phone)
        bob.send_presence()
        async with running_app(config(prosody, sim, tmp_path / "state.sqlite")) as app:
            await ready(app)
            await until_ready(http, app)
            mark = watch.mark()
            bob.send_presence_subscription(pto=alice_phone, ptype="subscribe")
            await watch.wait_for(alice_phone, mark, ptype="subscribed")
            await watch.wait_for(alice_phone, mark, ptype="available")
            before = await scrape(http, app)
            assert before[("phonepresence_users", ())] == 3
            assert before[("phonepresence_subscriptions", ())] == 1
            assert before[("phonepresence_xmpp_up", ())] == 1
            assert before[("phonepresence_wazo_up", ())] == 1

            # A DND toggled on alice's phone: one event, one presence to bob, one latency sample.
            mark = watch.mark()
            sim.set_dnd("alice", True)
            await watch.wait_for(alice_phone, mark, show="dnd")
            after = await scrape(http, app)
            sent = "phonepresence_presences_sent_total"
            assert after[(sent, ())] > before[(sent, ())]
            events = [k for k in after if k[0] == "phonepresence_wazo_events_total"]
            assert sum(after[k] for k in events) > sum(before.get(k, 0) for k in events)
            count = "phonepresence_event_to_publish_seconds_count"
            assert after[(count, ())] > before.get((count, ()), 0)

            # A non-admin trying an admin command is counted as refused.
            with pytest.raises(IqError):
                await Adhoc(bob, prosody.component).execute("admin-status")
            refused = ("phonepresence_commands_total", (("command", "Status"), ("outcome", "refused")))
            assert (await scrape(http, app))[refused] == 1

            # bob places a call: one origination, and the Call command counted.
            adhoc = Adhoc(bob, prosody.component)
            await adhoc.execute("call")
            await adhoc.act("next", number="1001")
            iq = await adhoc.act("complete")
            assert notes(iq)[0][0] == "info", notes(iq)  # "Calling ...: your phone rings first"
            samples = await scrape(http, app)
            assert samples[("phonepresence_originations_total", (("outcome", "placed"),))] == 1
            assert samples[("phonepresence_commands_total", (("command", "Call"), ("outcome", "form")))] == 1

            # The Wazo stream drops (tokens revoked) and the XMPP server restarts: both counted.
            sim.expire_tokens(recheck_now=True)
            prosody.restart()
            await wait_online(app, sessions=2)
            await until_ready(http, app)
            final = await scrape(http, app)
            assert final[("phonepresence_xmpp_reconnects_total", ())] == 1
            assert final[("phonepresence_wazo_reconnects_total", ())] >= 1
    finally:
        await disconnect_client(bob)


async def test_readyz_is_503_while_the_wazo_stream_is_down(
    prosody: ProsodyServer, sim: WazoSimulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    settings = config(prosody, sim, tmp_path / "state.sqlite")
    no_wazo = component_config(
        prosody,
        tmp_path / "state.sqlite",
        wazo={"enabled": True, "base_url": f"http://127.0.0.1:{closed_port()}", "username": "phonepresence"},
        presence={"privilege_grace": 0.3},
        ops={"enabled": True, "port": 0},
        env={"PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD},
    )
    assert no_wazo.component == settings.component
    async with running_app(no_wazo) as app:
        await wait_online(app)  # the XMPP side is up...
        status, body = await get(http, base(app) + "/readyz")
        assert status == 503  # ...but Wazo is not
        assert body == "not ready: Wazo event stream not synchronised\n"
        assert (await scrape(http, app))[("phonepresence_wazo_up", ())] == 0


async def test_a_taken_port_is_logged_and_the_component_runs_on(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = config(prosody, sim, tmp_path / "state.sqlite")
        settings = replace(settings, ops=replace(settings.ops, port=int(taken.getsockname()[1])))
        with caplog.at_level("ERROR"):
            async with running_app(settings) as app:
                await ready(app)
                assert app.ops is not None
                assert app.ops.port is None
                assert "ops.port: cannot listen on 127.0.0.1:" in caplog.text
