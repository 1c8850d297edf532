"""The ejabberd harness: a real ejabberd 23.01 starts from a temp folder, users log in, a component
authenticates, restarts keep users, a broken config fails loudly, and stop() leaves no process behind."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from slixmpp import ClientXMPP, ComponentXMPP

from devservers.ejabberd import EjabberdServer, ServerStartError
from devservers.xmpp_client import connect_client, disconnect_client

pytestmark = pytest.mark.server


def _running(pids: list[int]) -> list[int]:
    """The PIDs that still exist and are not zombies."""
    alive = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            continue
        if stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] != b"Z":
            alive.append(pid)
    return alive


def _processes_using(folder: Path) -> list[int]:
    """Live processes whose command line names ``folder`` (the VM's ``-mnesia dir`` is in it)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(folder).encode() in (entry / "cmdline").read_bytes():
                # a zombie's cmdline is empty, so it never matches
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _beam_pids(server: EjabberdServer) -> list[int]:
    return [pid for pid in server.instance_pids() if Path(f"/proc/{pid}/comm").read_text().startswith("beam")]


async def _login(server: EjabberdServer, user: str) -> ClientXMPP:
    return await connect_client(f"{user}@{server.domain}", server.users[user], server.c2s_port)


async def test_registered_user_logs_in_and_pings_the_server(ejabberd: EjabberdServer) -> None:
    alice = await _login(ejabberd, "alice")
    try:
        assert alice.boundjid.bare == f"alice@{ejabberd.domain}"
        rtt = await alice.plugin["xep_0199"].ping(ejabberd.domain, timeout=5)
        assert rtt >= 0
    finally:
        await disconnect_client(alice)


async def test_component_authenticates_and_answers_a_users_disco_info(ejabberd: EjabberdServer) -> None:
    component = ComponentXMPP(
        ejabberd.component, ejabberd.component_secret, "127.0.0.1", ejabberd.component_port
    )
    component.register_plugin("xep_0030")
    component.plugin["xep_0030"].add_identity(category="gateway", itype="phone", name="Phone presence")
    component.plugin["xep_0030"].add_feature("urn:example:phonepresence")
    started = asyncio.Event()
    component.add_event_handler("session_start", lambda _: started.set())
    component.connect()
    await asyncio.wait_for(started.wait(), 10)
    bob = await _login(ejabberd, "bob")
    try:
        info = await bob.plugin["xep_0030"].get_info(jid=ejabberd.component, timeout=5)
        assert ("gateway", "phone", None, "Phone presence") in info["disco_info"]["identities"]
        assert "urn:example:phonepresence" in info["disco_info"]["features"]
    finally:
        await disconnect_client(bob)
        await component.disconnect(wait=1)


async def test_a_wrong_component_secret_is_refused(ejabberd: EjabberdServer) -> None:
    component = ComponentXMPP(ejabberd.component, "not-the-secret", "127.0.0.1", ejabberd.component_port)
    started, dropped = asyncio.Event(), asyncio.Event()
    component.add_event_handler("session_start", lambda _: started.set())
    component.add_event_handler("disconnected", lambda _: dropped.set())
    component.connect()
    try:
        await asyncio.wait_for(dropped.wait(), 15)
        assert not started.is_set()
    finally:
        component.abort()


def test_restart_keeps_users_and_stop_ends_every_process(ejabberd: EjabberdServer) -> None:
    old = ejabberd.instance_pids()
    assert _beam_pids(ejabberd), f"no beam.smp in the instance's session: {old}"
    began = time.monotonic()
    ejabberd.stop()
    stopped = time.monotonic() - began
    assert not ejabberd.alive
    assert _running(old) == [], "processes of the stopped instance are still running"
    assert _processes_using(ejabberd.rundir) == []
    began = time.monotonic()
    ejabberd.start()
    started = time.monotonic() - began
    print(f"ejabberd stop {stopped:.2f} s, start {started:.2f} s")
    assert not set(old) & set(ejabberd.instance_pids())

    async def carol_logs_in() -> None:
        await disconnect_client(await _login(ejabberd, "carol"))

    asyncio.run(carol_logs_in())


def test_users_survive_a_crash_stop(ejabberd: EjabberdServer) -> None:
    """kill() is a SIGKILL; it first waits out Mnesia's 2 s log cache if users were registered just now."""
    old = ejabberd.instance_pids()
    ejabberd.kill()
    assert not ejabberd.alive
    assert _running(old) == []
    assert _processes_using(ejabberd.rundir) == []
    ejabberd.start()

    async def alice_logs_in() -> None:
        await disconnect_client(await _login(ejabberd, "alice"))

    asyncio.run(alice_logs_in())


def test_a_second_instance_runs_beside_and_stops_alone(ejabberd: EjabberdServer, tmp_path: Path) -> None:
    other = EjabberdServer(tmp_path / "other")
    assert other.node != ejabberd.node
    other.start()
    try:
        mine = other.instance_pids()
        assert _beam_pids(other)
        assert not set(mine) & set(ejabberd.instance_pids())
    finally:
        other.stop()
    assert _running(mine) == []
    assert _processes_using(other.rundir) == []
    assert ejabberd.alive, "stopping one instance touched the other"
    assert _beam_pids(ejabberd), "stopping one instance touched the other"


def test_a_server_that_cannot_start_raises_with_its_log(tmp_path: Path) -> None:
    server = EjabberdServer(tmp_path / "broken", extra_config="no_such_option: 1\n")
    began = time.monotonic()
    with pytest.raises(ServerStartError) as failure:
        server.start(timeout=90)
    assert "ejabberd did not start" in str(failure.value)
    assert "no_such_option" in str(failure.value)  # the log tail names the problem
    # The VM ends in a few seconds; a harness that waited for the deadline would take 90.
    assert time.monotonic() - began < 45, "a config error should end the VM, not wait for the deadline"
    assert not server.alive
    assert server.instance_pids() == []
    assert _processes_using(server.rundir) == []


def test_ctl_and_beam_pid_then_discard_leaves_no_process_and_no_rundir(
    ejabberd: EjabberdServer, tmp_path: Path
) -> None:
    """What the benchmarks use: one ejabberdctl command, the VM's PID (its CPU is the server's), and
    discard() = stop() plus the exit hook's cleanup, so a second server in the same run leaks nothing."""
    other = EjabberdServer(tmp_path / "other", users={})
    other.start()
    try:
        assert other.beam_pid in _beam_pids(other)
        assert other.beam_pid != other.process.pid  # type: ignore[union-attr]  # the ejabberdctl shell
        other.ctl("register", "dave", other.domain, "pw-dave")
        assert "dave" in other.ctl("registered_users", other.domain).split()
        with pytest.raises(ServerStartError):
            other.ctl("no_such_command")
        pids, rundir = other.instance_pids(), other.rundir
    finally:
        other.discard()
    assert _running(pids) == []
    assert _processes_using(rundir) == []
    assert not rundir.exists() or rundir == other.workdir
    assert ejabberd.alive, "discarding one instance touched the other"
