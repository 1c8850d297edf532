"""``make demo``: a local Prosody, the Wazo simulator and the component, wired together.

Everything lives under ``.demo/`` (or $PHONEPRESENCE_DEMO_DIR) and stops on Ctrl-C. Ports are the
standard ones when free (5222 for clients) so any XMPP client can log in with few settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

from devservers.net import free_port, port_accepts
from devservers.prosody import ProsodyServer
from devservers.radicale import CALENDAR, RadicaleServer
from rules.model import CallTarget, RuleSettings, Target
from wazo_sim.app import WazoSimulator
from xmpp_component.app import App
from xmpp_component.config import parse_config
from xmpp_component.logs import setup_logging

log = logging.getLogger("demo")


VOICEMAIL_BODY = '{"from_number": "+33612345678", "from_name": "Dr Who", "duration": 12}'


def _port(preferred: int) -> int:
    return preferred if not port_accepts(preferred) else free_port()


def banner(server: ProsodyServer, sim: WazoSimulator, radicale: RadicaleServer, links: str) -> str:
    users = "\n".join(f"    {user}@{server.domain}   password: {pw}" for user, pw in server.users.items())
    control = f"{sim.base_url}/_sim"
    return f"""
================================================================================
 phonepresence demo is running. Log in with any XMPP client:
   server/host: 127.0.0.1    port: {server.c2s_port}    (no TLS: allow plaintext login)
{users}
 The component is {server.component}: open service discovery on it
 (Gajim: Accounts > Discover Services, type {server.component}).

 Watch a colleague's phone: logged in as bob, add the contact alice@{server.component}
 (it is accepted at once), then drive alice's simulated phone (Wazo simulator at {sim.base_url}):
   ring her:     curl -X POST {control}/users/alice/ring -d '{{"from_number": "+33123456789"}}'
   she answers:  curl -X POST {control}/users/alice/answer
   hang up:      curl -X POST {control}/users/alice/hangup
   no answer:    curl -X POST {control}/users/alice/no-answer   (after a ring; alice gets a
                 "Missed call" chat message 30 s later; "calls" lists her calls)
   DND on/off:   curl -X PUT {control}/users/alice/dnd -d '{{"enabled": true}}'
   phone off:    curl -X PUT {control}/users/alice/registered -d '{{"registered": false}}'
   the truth:    curl {control}/state
 Users alice/bob/carol have extensions 1001/1002/1003.

 Meetings: alice's calendar is {radicale.calendar_url("alice")} (Radicale, password pw-alice).
 Put a meeting in it, starting in 20 s, for 1 minute:
   meeting:      .venv/bin/python -m devservers.meeting alice --in 20 --minutes 1
 At its start bob sees alice "In a meeting", and her calls go to her voicemail (her settings:
 "meeting calls voicemail"; send "settings" to {server.component} as alice to see or change them).
 Ring her then and the simulator leaves a voicemail message (see "the truth" above).

 Place a call: logged in as alice, send the chat message "call bob" to {server.component}
 (or run its "Call" command). Your own phone rings first: answer it with
   curl -X POST {control}/users/alice/answer
 then bob's phone rings; answer it (curl -X POST {control}/users/bob/answer) and watch
 alice become Calling, then On the phone.
 Voicemail: leave alice a message from +33 6 12 34 56 78; she gets it in her chat (offline:
 at her next login) with a "listen" link served at {links} and "call back 1":
   voicemail:    curl -X POST {control}/users/alice/voicemail -d '{VOICEMAIL_BODY}'
 then, as alice, send "voicemail" to {server.component} to list, listen, mark read or delete.
 Ctrl-C stops everything.
================================================================================
demo ready
"""


async def run_demo(workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    # Offline storage on: a voicemail notice for a user who is not logged in waits for them.
    server = ProsodyServer(
        workdir / "prosody", c2s_port=_port(5222), component_port=_port(5347), offline_storage=True
    )
    server.start()
    sim = WazoSimulator(port=_port(9497))
    await sim.start()
    radicale = RadicaleServer(workdir / "radicale", port=_port(5232))
    try:
        radicale.start()
        for user in radicale.users:
            if not (workdir / "radicale" / "collections" / "collection-root" / user / CALENDAR).exists():
                radicale.make_calendar(user)
        server.register_users()
        service = sim.config.service_accounts[0]
        http_port = _port(9751)
        link_key = workdir / "http-link.key"  # kept: links sent before a restart still open
        if not link_key.exists():
            link_key.write_text(secrets.token_hex(32))
            link_key.chmod(0o600)
        config = parse_config(
            {
                "component": {
                    "jid": server.component,
                    "server_port": server.component_port,
                    "admins": [f"alice@{server.domain}"],
                },
                "store": {"path": str(workdir / "phonepresence.sqlite")},
                "wazo": {"enabled": True, "base_url": sim.base_url, "username": service.username},
                "calendar": {
                    "enabled": True,
                    "url_template": radicale.base_url + "/{localpart}/" + CALENDAR + "/",
                    "username": radicale.service_user,
                    "poll_interval": 5.0,
                },
                "http": {
                    "enabled": True,
                    "port": http_port,
                    "public_base_url": f"http://127.0.0.1:{http_port}",
                    "link_key_file": str(link_key),
                },
            },
            {
                "PHONEPRESENCE_COMPONENT_SECRET": server.component_secret,
                "PHONEPRESENCE_WAZO_PASSWORD": service.password,
                "PHONEPRESENCE_CALDAV_PASSWORD": radicale.service_password,
            },
        )
        setup_logging(
            "info",
            [
                config.component_secret,
                *([config.wazo_password] if config.wazo_password else []),
                *([config.caldav_password] if config.caldav_password else []),
                *([config.http_link_key] if config.http_link_key else []),
            ],
        )
        app = App(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, app.request_stop)
        task = asyncio.create_task(app.run(install_signal_handlers=False))
        await app.started.wait()
        assert app.supervisor is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(app.supervisor.online.wait(), 10)
            await asyncio.wait_for(app.provisioned.wait(), 10)
        alice = app.people.by_chat_jid.get(f"alice@{server.domain}")
        if alice is not None and app.settings.call_rules(alice.wazo_uuid) == RuleSettings():
            voicemail = RuleSettings(meeting_calls=CallTarget(Target.VOICEMAIL))
            await app.settings.set_call_rules(alice.wazo_uuid, alice.chat_jid, voicemail)
        print(banner(server, sim, radicale, config.http.public_base_url), flush=True)
        await task
    finally:
        await sim.stop()
        radicale.stop()
        server.stop()
        log.info("demo stopped")


def main() -> int:
    workdir = Path(os.environ.get("PHONEPRESENCE_DEMO_DIR", ".demo")).resolve()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_demo(workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
