"""The component on a real Prosody: discovery, ping, version, reconnects, conflict, shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from slixmpp.exceptions import IqError

from devservers.prosody import ProsodyServer
from tests.xmpp.appctl import component_config, running_app, wait_online, wait_until
from xmpp_component.component import NS_PHONEPRESENCE

REPO = Path(__file__).resolve().parents[2]


async def test_clients_discover_the_component(prosody: ProsodyServer, xmpp_client, tmp_path: Path) -> None:
    async with running_app(component_config(prosody, tmp_path / "db.sqlite")) as app:
        await wait_online(app)
        alice = await xmpp_client("alice")
        info = await alice.plugin["xep_0030"].get_info(jid=prosody.component, timeout=5)
        identities = info["disco_info"]["identities"]
        features = info["disco_info"]["features"]
        assert ("component", "presence", None, "Phone presence") in identities
        for feature in (
            "http://jabber.org/protocol/disco#info",
            "urn:xmpp:ping",
            "jabber:iq:version",
            "http://jabber.org/protocol/commands",
            NS_PHONEPRESENCE,
        ):
            assert feature in features

        # The server lists the component among its items, which is how clients find it.
        items = await alice.plugin["xep_0030"].get_items(jid=prosody.domain, timeout=5)
        assert prosody.component in {item[0] for item in items["disco_items"]["items"]}


async def test_a_running_component_takes_the_gil_back_from_worker_threads_quickly(
    prosody: ProsodyServer, tmp_path: Path
) -> None:
    """The LDAP, CalDAV and SQLite work runs in threads; with Python's 5 ms switch interval the
    event loop waited that long for the GIL several times per presence (p99 18.7 ms instead of
    10 ms while directory searches ran)."""
    from xmpp_component.app import GIL_SWITCH_INTERVAL_S

    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        async with running_app(component_config(prosody, tmp_path / "db.sqlite")) as app:
            await wait_online(app)
            assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_S)
    finally:
        sys.setswitchinterval(before)


async def test_component_answers_ping_and_version(
    prosody: ProsodyServer, xmpp_client, tmp_path: Path
) -> None:
    async with running_app(component_config(prosody, tmp_path / "db.sqlite")) as app:
        await wait_online(app)
        bob = await xmpp_client("bob")
        assert await bob.plugin["xep_0199"].ping(prosody.component, timeout=5) >= 0
        version = await bob.plugin["xep_0092"].get_version(prosody.component, timeout=5)
        assert version["software_version"]["name"] == "phonepresence"
        assert version["software_version"]["version"] == "0.1.0"


async def test_unknown_iq_gets_a_stanza_error_and_the_component_keeps_running(
    prosody: ProsodyServer, xmpp_client, tmp_path: Path
) -> None:
    async with running_app(component_config(prosody, tmp_path / "db.sqlite")) as app:
        await wait_online(app)
        carol = await xmpp_client("carol")
        iq = carol.make_iq_get(queryxmlns="urn:example:not-supported", ito=prosody.component)
        with pytest.raises(IqError) as failure:
            await iq.send(timeout=5)
        # slixmpp answers unknown payloads with feature-not-implemented (RFC 6120 8.3.3.3 allows it).
        assert failure.value.iq["error"]["condition"] == "feature-not-implemented"
        assert await carol.plugin["xep_0199"].ping(prosody.component, timeout=5) >= 0


async def test_component_reconnects_after_prosody_restarts(
    prosody: ProsodyServer, xmpp_client, tmp_path: Path
) -> None:
    async with running_app(component_config(prosody, tmp_path / "db.sqlite")) as app:
        await wait_online(app)
        prosody.restart()  # clean stop: the server closes the stream
        await wait_online(app, sessions=2, timeout=15)
        prosody.kill()  # crash: the TCP link just dies
        await wait_until(lambda: not app.supervisor.online.is_set(), 10, "the loss to be noticed")
        # The loss counts as one attempt; two more are connections refused by the dead server.
        await wait_until(lambda: app.supervisor.backoff.attempts >= 3, 10, "failed attempts while down")
        assert not app.supervisor.online.is_set()
        prosody.start()
        await wait_online(app, sessions=3, timeout=15)
        alice = await xmpp_client("alice")
        assert await alice.plugin["xep_0199"].ping(prosody.component, timeout=5) >= 0


async def test_a_frozen_server_is_noticed_and_the_component_reconnects_when_it_thaws(
    prosody: ProsodyServer, xmpp_client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keepalive = {"keepalive_interval": 0.2, "keepalive_timeout": 0.5}
    async with running_app(component_config(prosody, tmp_path / "db.sqlite", component=keepalive)) as app:
        await wait_online(app)
        sessions = app.supervisor.sessions
        with prosody.frozen():  # SIGSTOP: TCP stays up (the kernel ACKs), nothing answers
            # interval + timeout is 0.7 s; the bound is loose for a loaded CI machine.
            await wait_until(lambda: not app.supervisor.online.is_set(), 10, "the dead link to be noticed")
            # Reconnecting to the frozen server: its kernel accepts the TCP connection, the
            # handshake never comes, and that attempt is given up on too instead of hanging.
            await wait_until(lambda: app.supervisor.dead_links >= 2, 10, "a hung handshake to be given up")
        await wait_online(app, sessions=sessions + 1, timeout=20)
        alice = await xmpp_client("alice")
        assert await alice.plugin["xep_0199"].ping(prosody.component, timeout=5) >= 0
    assert "no answer to a ping within 0.5 s (half-open connection)" in caplog.text
    assert "no answer to the stream handshake within 0.5 s" in caplog.text


async def test_second_instance_gets_conflict_and_takes_over_when_the_first_stops(
    prosody: ProsodyServer, xmpp_client, tmp_path: Path
) -> None:
    first_config = component_config(prosody, tmp_path / "first.sqlite")
    second_config = component_config(prosody, tmp_path / "second.sqlite")
    async with running_app(first_config) as first:
        await wait_online(first)
        async with running_app(second_config) as second:
            # Prosody refuses the second connection with <conflict/>; it keeps retrying.
            await wait_until(lambda: second.supervisor.backoff.attempts >= 2, 10, "two refused handshakes")
            assert second.supervisor.sessions == 0
            assert not second.supervisor.online.is_set()
            assert first.supervisor.online.is_set()
            first.request_stop()
            await wait_online(second, timeout=10)
            alice = await xmpp_client("alice")
            assert await alice.plugin["xep_0199"].ping(prosody.component, timeout=5) >= 0


async def test_wrong_secret_is_logged_clearly_without_the_secret(
    prosody: ProsodyServer, tmp_path: Path, caplog
) -> None:
    config = component_config(prosody, tmp_path / "db.sqlite")
    wrong = "definitely-not-the-secret"
    object.__setattr__(config, "component_secret", type(config.component_secret)(wrong))
    with caplog.at_level("DEBUG"):
        async with running_app(config) as app:
            await wait_until(lambda: app.supervisor.backoff.attempts >= 2, 10, "two refused handshakes")
            assert not app.supervisor.online.is_set()
    assert "not-authorized" in caplog.text
    assert "secret does not match" in caplog.text
    assert wrong not in caplog.text


def test_sigterm_stops_the_process_cleanly(prosody: ProsodyServer, tmp_path: Path) -> None:
    config = tmp_path / "phonepresence.toml"
    config.write_text(
        f'[component]\njid = "{prosody.component}"\nserver_port = {prosody.component_port}\n'
        f'[store]\npath = "{tmp_path / "db.sqlite"}"\n[logging]\nlevel = "debug"\n'
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "xmpp_component.cli", "run", "--config", str(config)],
        env={**prosody.environment_for_component(), "PYTHONPATH": str(REPO)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[str] = []
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "connected to the XMPP server" in line:
                break
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    log = "".join(lines) + rest
    assert process.returncode == 0, log
    assert "xmpp_component.app: stopping" in log
    assert log.index("xmpp_component.app: stopping") < log.index("xmpp_component.app: stopped")
    assert prosody.component_secret not in log
    assert (tmp_path / "db.sqlite").exists()
    assert os.path.getsize(tmp_path / "db.sqlite") > 0
