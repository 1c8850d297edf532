"""``make demo``: a local Prosody, the Wazo simulator and the component, wired together, with a
small company directory (slapd) and address books (Radicale: the company's and alice's own).

Everything lives under ``.demo/`` (or $PHONEPRESENCE_DEMO_DIR) and stops on Ctrl-C. Ports are the
standard ones when free (5222 for clients) so any XMPP client can log in with few settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import shutil
import signal
import sys
from pathlib import Path

from devservers.carddav import COMPANY_OWNER, COMPANY_PASSWORD, make_address_book, put_card, vcard
from devservers.net import free_port, port_accepts
from devservers.prosody import ProsodyServer
from devservers.radicale import CALENDAR, RadicaleServer
from devservers.slapd import KNOWN_PEOPLE, PEOPLE_DN, SlapdServer
from rules.model import CallTarget, RuleSettings, Target
from wazo_sim.app import WazoSimulator
from wazo_sim.config import load_config
from xmpp_component.app import App
from xmpp_component.config import parse_config
from xmpp_component.logs import setup_logging

log = logging.getLogger("demo")


VOICEMAIL_BODY = '{"from_number": "+33612345678", "from_name": "Dr Who", "duration": 12}'


def _port(preferred: int) -> int:
    return preferred if not port_accepts(preferred) else free_port()


# The demo's address books: (owner, uid, name, (type, number)); LDAP holds slapd's known people
# (Alan Turing, Marie Curie, Zoë Müller...) and a few dozen generated ones.
DEMO_CARDS = [
    (COMPANY_OWNER, "lovelace", "Ada Lovelace", ("WORK", "+44 20 7946 0001")),
    (COMPANY_OWNER, "hopper", "Grace Hopper", ("WORK", "+1 202 555 0143")),
    ("alice", "plumber", "Mario Plombier", ("CELL", "+33 6 12 34 56 78")),
]
DEMO_LDAP_PEOPLE = 40


def start_directory(workdir: Path, radicale: RadicaleServer) -> SlapdServer:
    """slapd with the demo's people (loaded afresh each run), and the address books in Radicale."""
    shutil.rmtree(workdir / "slapd", ignore_errors=True)  # slapadd loads into an empty database
    slapd = SlapdServer(workdir / "slapd", people=DEMO_LDAP_PEOPLE, port=_port(3389))
    slapd.start()
    for owner in (COMPANY_OWNER, "alice"):
        if not (workdir / "radicale" / "collections" / "collection-root" / owner / "contacts").exists():
            make_address_book(radicale, owner)
    for owner, uid, name, tel in DEMO_CARDS:
        put_card(radicale, owner, uid, vcard(uid, name, tel))
    return slapd


def banner(
    server: ProsodyServer, sim: WazoSimulator, radicale: RadicaleServer, slapd: SlapdServer, links: str
) -> str:
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

 Directory: "call" also finds people outside the phone system, in the company directory
 (slapd at {slapd.uri}, {DEMO_LDAP_PEOPLE + len(KNOWN_PEOPLE)} people) and the address books
 (Radicale: the company's, and alice's own). As alice try "call turing" or "call mul" (LDAP:
 Zoë Müller...), "call lovelace" (company book), "call plombier" (alice's book only). One match
 outside the phone system is asked about first ("Call Alan Turing at +44 20 7946 0104 ...?
 (yes/no)"): reply yes to dial it.
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
    # Outside numbers (+...) leave through a trunk, so calls to the directory's people go out.
    sim_config = dataclasses.replace(load_config(), outcalls={"default": ("_[+]X.",)})
    sim = WazoSimulator(sim_config, port=_port(9497))
    await sim.start()
    radicale = RadicaleServer(workdir / "radicale", port=_port(5232))
    radicale.users = {**radicale.users, COMPANY_OWNER: COMPANY_PASSWORD}
    slapd: SlapdServer | None = None
    try:
        radicale.start()
        slapd = start_directory(workdir, radicale)
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
                "directory": {
                    "ldap": {
                        "enabled": True,
                        "uris": [slapd.uri],
                        "base_dn": PEOPLE_DN,
                        "bind_dn": slapd.reader_dn,
                        "phone_attributes": ["telephoneNumber", "mobile", "ipPhone"],
                    },
                    "carddav": {
                        "enabled": True,
                        "company_url": f"{radicale.base_url}/{COMPANY_OWNER}/contacts/",
                        "personal_url_template": radicale.base_url + "/{localpart}/contacts/",
                        "username": radicale.service_user,
                        "poll_interval": 5.0,
                    },
                },
            },
            {
                "PHONEPRESENCE_COMPONENT_SECRET": server.component_secret,
                "PHONEPRESENCE_WAZO_PASSWORD": service.password,
                "PHONEPRESENCE_CALDAV_PASSWORD": radicale.service_password,
                "PHONEPRESENCE_LDAP_PASSWORD": slapd.reader_password,
                "PHONEPRESENCE_CARDDAV_PASSWORD": radicale.service_password,
            },
        )
        setup_logging(
            "info",
            [
                config.component_secret,
                *([config.wazo_password] if config.wazo_password else []),
                *([config.caldav_password] if config.caldav_password else []),
                *([config.http_link_key] if config.http_link_key else []),
                *([config.ldap_password] if config.ldap_password else []),
                *([config.carddav_password] if config.carddav_password else []),
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
        books = app.commands.address_books
        for _ in range(100):  # the first read of the address books, so "call lovelace" answers at once
            if books is None or (
                books.contacts("company") and books.contacts(f"personal:alice@{server.domain}")
            ):
                break
            await asyncio.sleep(0.1)
        print(banner(server, sim, radicale, slapd, config.http.public_base_url), flush=True)
        await task
    finally:
        await sim.stop()
        if slapd is not None:
            slapd.stop()
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
