"""``phonepresence doctor`` against a real Prosody and the Wazo simulator (which enforces each
token's ACLs as wazo-auth and the services do): every check OK, then one fault at a time."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
import tomllib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devservers.postgres import PostgresServer
from devservers.prosody import ProsodyServer
from presence.sources.wazo.acl import required_acls
from store.db import SCHEMA_VERSION
from store.postgres import ActiveLock, PostgresStore
from tests.doctor.tls import self_signed, server_context
from tests.wazo_client.sim_driver import SERVICE_PASSWORD
from wazo_sim.acl import AccessCheck
from wazo_sim.app import WazoSimulator
from wazo_sim.config import DEMO_USERS_FILE, SimConfig, parse_config
from xmpp_component.doctor import Doctor

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[2]


def world(acl: tuple[str, ...] | list[str] | None = None, **changes: Any) -> SimConfig:
    """The demo world; the service account holds exactly ``acl`` (default: the required list)."""
    raw = tomllib.loads(DEMO_USERS_FILE.read_text())
    raw["service_accounts"][0]["acl"] = list(required_acls() if acl is None else acl)
    raw.update(changes)
    return parse_config(raw)


def write_config(folder: Path, prosody: ProsodyServer, sim: WazoSimulator, **wazo: Any) -> Path:
    lines = [
        "[component]",
        f'jid = "{prosody.component}"',
        f"server_port = {prosody.component_port}",
        "[store]",
        f'path = "{folder / "state.sqlite"}"',
        "[wazo]",
        "enabled = true",
        f'base_url = "{sim.base_url}"',
        'username = "phonepresence"',
        "request_timeout = 5.0",
    ]
    for key, value in wazo.items():
        lines.append(f"{key} = {json.dumps(value)}")  # JSON strings, numbers and booleans are TOML
    path = folder / "phonepresence.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def env(prosody: ProsodyServer, secret: str = "", password: str = SERVICE_PASSWORD) -> dict[str, str]:
    return {
        "PHONEPRESENCE_COMPONENT_SECRET": secret or prosody.component_secret,
        "PHONEPRESENCE_WAZO_PASSWORD": password,
    }


async def doctor(path: Path, environment: dict[str, str]) -> tuple[int, list[str]]:
    out = io.StringIO()
    status = await Doctor(out, environment).run(path)
    return status, out.getvalue().splitlines()


def line(lines: list[str], what: str) -> str:
    found = [text for text in lines if text[5:].startswith(what + ":")]
    assert len(found) == 1, f"no single {what!r} line in:\n" + "\n".join(lines)
    return found[0]


@pytest.fixture
async def tls_sim(tmp_path: Path) -> AsyncIterator[tuple[WazoSimulator, Path]]:
    cert, key = self_signed(tmp_path)
    async with WazoSimulator(world(), ssl_context=server_context(cert, key)) as sim:
        yield sim, cert


async def test_everything_ok_over_tls_with_ca_file(
    prosody: ProsodyServer, tls_sim: tuple[WazoSimulator, Path], tmp_path: Path
) -> None:
    sim, cert = tls_sim
    path = write_config(tmp_path, prosody, sim, ca_file=str(cert))
    status, lines = await doctor(path, env(prosody))
    assert status == 0, "\n".join(lines)
    assert [text.split(":")[0] for text in lines] == [
        "OK   configuration",
        "OK   XMPP component",
        "OK   Wazo reachable",
        "OK   Wazo service account",
        "OK   Wazo permissions",
        "OK   Wazo tenant",
        "OK   Wazo events",
        "OK   users",
    ]
    assert line(lines, "Wazo permissions").endswith(f"all {len(required_acls())} ACLs granted")
    assert line(lines, "users").endswith("3 of 3 Wazo users matched to chat users (email in example.test)")


async def test_an_untrusted_certificate_names_the_option(
    prosody: ProsodyServer, tls_sim: tuple[WazoSimulator, Path], tmp_path: Path
) -> None:
    sim, _cert = tls_sim
    other, _key = self_signed(tmp_path, "someone-else")
    for wazo in ({}, {"ca_file": str(other)}):  # the system's CAs, then the wrong CA
        status, lines = await doctor(write_config(tmp_path, prosody, sim, **wazo), env(prosody))
        assert status == 1
        reached = line(lines, "Wazo reachable")
        assert reached.startswith("FAIL Wazo reachable: Wazo's TLS certificate is not trusted (")
        assert "give its CA certificate with wazo.ca_file" in reached
        assert "wazo.verify_tls = false" in reached
        assert not any("Wazo service account" in text for text in lines)  # nothing sent


@pytest.mark.parametrize("removed", required_acls())
async def test_each_missing_acl_is_named_exactly(
    prosody: ProsodyServer, tmp_path: Path, removed: str
) -> None:
    others = [a for a in required_acls() if a != removed]
    async with WazoSimulator(world(others)) as sim:
        status, lines = await doctor(write_config(tmp_path, prosody, sim), env(prosody))
    if AccessCheck(others, auth_id="service").matches(removed):
        # Wazo's wildcards: another ACL of the list grants this one too (calld.voicemails.*.read
        # covers calld.voicemails.messages.read), so nothing is missing and the doctor says so.
        assert not any(text.startswith("FAIL") for text in lines), lines
        return
    assert status == 1
    assert line(lines, "Wazo permissions") == (
        f"FAIL Wazo permissions: missing {removed}; add them to the service account's policy "
        '(README "Connecting to Wazo")'
    )
    failed = [text.split(":")[0] for text in lines if text.startswith("FAIL")]
    if removed == "websocketd":
        assert failed == ["FAIL Wazo permissions", "FAIL Wazo events"]
        assert "close code 4002 authentication failed" in line(lines, "Wazo events")
    else:
        assert failed == ["FAIL Wazo permissions"]


async def test_two_missing_acls_and_a_wildcard_grant(prosody: ProsodyServer, tmp_path: Path) -> None:
    # confd.# covers both confd ACLs; the calld and event ones are left out.
    granted = [a for a in required_acls() if not a.startswith(("confd.", "calld.calls."))] + ["confd.#"]
    async with WazoSimulator(world(granted)) as sim:
        status, lines = await doctor(write_config(tmp_path, prosody, sim), env(prosody))
    assert status == 1
    assert "missing calld.calls.read, calld.calls.create, calld.calls.*.delete;" in line(
        lines, "Wazo permissions"
    )


async def test_wrong_wazo_password(prosody: ProsodyServer, tmp_path: Path) -> None:
    async with WazoSimulator(world()) as sim:
        status, lines = await doctor(
            write_config(tmp_path, prosody, sim), env(prosody, password="pw-WRONG-4711")
        )
    assert status == 1
    assert line(lines, "Wazo service account") == (
        "FAIL Wazo service account: wazo-auth refused 'phonepresence' and its password; check "
        "wazo.username and the password in $PHONEPRESENCE_WAZO_PASSWORD "
        "(wazo-auth-cli user show phonepresence)"
    )
    assert "pw-WRONG-4711" not in "\n".join(lines)
    assert lines[-1].startswith("FAIL Wazo service account")  # the checks that need a token are skipped


async def test_wrong_component_secret(prosody: ProsodyServer, tmp_path: Path) -> None:
    async with WazoSimulator(world()) as sim:
        status, lines = await doctor(
            write_config(tmp_path, prosody, sim), env(prosody, secret="not-the-secret")
        )
    assert status == 1
    xmpp = line(lines, "XMPP component")
    assert xmpp.startswith(
        f"FAIL XMPP component: 127.0.0.1:{prosody.component_port} refused the handshake (not-authorized)"
    )
    assert "$PHONEPRESENCE_COMPONENT_SECRET" in xmpp
    assert "not-the-secret" not in "\n".join(lines)
    assert line(lines, "users").startswith("OK")  # the Wazo checks still run


async def test_users_that_cannot_match(prosody: ProsodyServer, tmp_path: Path) -> None:
    raw = tomllib.loads(DEMO_USERS_FILE.read_text())
    users = raw["users"]
    users[2]["email"] = ""  # carol: no email
    extra = [
        {
            "id": 5,
            "username": "dave",
            "password": "p",
            "email": "dave@elsewhere.test",
            "exten": "1005",
            "line_id": 15,
        },
        {
            "id": 6,
            "username": "bob2",
            "password": "p",
            "email": "bob@example.test",
            "exten": "1006",
            "line_id": 16,
        },
        {"id": 7, "username": "erin", "password": "p", "email": "erin@example.test", "firstname": "Erin"},
    ]
    async with WazoSimulator(world(users=users + extra)) as sim:
        status, lines = await doctor(write_config(tmp_path, prosody, sim), env(prosody))
    assert status == 1  # a duplicate is a mistake to fix
    index = lines.index(line(lines, "users"))
    assert lines[index] == "FAIL users: 3 of 6 Wazo users matched to chat users (email in example.test)"
    details = sorted(lines[index + 1 :])
    assert len(details) == 4, "\n".join(lines)
    assert details == [
        "     - Wazo user Carol Clark [33333333-3333-4333-8333-333333333333]: no email -> set an email in "
        "example.test on the user in Wazo, or map it in identity.overrides",
        f"     - Wazo user Erin [{uuid_of('erin')}] (erin@example.test): no line -> chat presence only and "
        "no calls; give the user a line in Wazo",
        f"     - Wazo user bob2 [{uuid_of('bob2')}]: email bob@example.test is also another Wazo user's -> "
        "give each Wazo user their own email",
        f"     - Wazo user dave [{uuid_of('dave')}]: email dave@elsewhere.test is in another domain "
        "(elsewhere.test) -> add elsewhere.test to component.user_domains if its users are chat users, "
        "or map it in identity.overrides",
    ]


def uuid_of(username: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"user:{username}"))  # the simulator's default uuid


async def test_users_that_cannot_match_without_duplicates_only_warn(
    prosody: ProsodyServer, tmp_path: Path
) -> None:
    raw = tomllib.loads(DEMO_USERS_FILE.read_text())
    raw["users"][2]["email"] = "carol@elsewhere.test"
    async with WazoSimulator(world(users=raw["users"])) as sim:
        status, lines = await doctor(write_config(tmp_path, prosody, sim), env(prosody))
    assert status == 0, "\n".join(lines)
    assert line(lines, "users").startswith("WARN users: 2 of 3 Wazo users matched")


def sub_tenant_world() -> SimConfig:
    raw = tomllib.loads(DEMO_USERS_FILE.read_text())
    own = raw["wazo"]["tenant_uuid"]
    sub = "b0000000-0000-4000-8000-00000000000b"
    raw["tenants"] = [{"uuid": sub, "parent_uuid": own}]
    raw["users"].append(
        {
            "id": 9,
            "username": "zoe",
            "password": "p",
            "email": "zoe@example.test",
            "exten": "2001",
            "line_id": 19,
            "tenant_uuid": sub,
        }
    )
    return world(users=raw["users"], tenants=raw["tenants"])


async def test_an_account_that_sees_several_tenants_is_refused(
    prosody: ProsodyServer, tmp_path: Path
) -> None:
    async with WazoSimulator(sub_tenant_world()) as sim:
        status, lines = await doctor(write_config(tmp_path, prosody, sim), env(prosody))
        assert status == 1
        assert line(lines, "Wazo tenant") == (
            "FAIL Wazo tenant: the Wazo service account also sees 1 users of other (sub-)tenants; one "
            "phonepresence serves one tenant: set wazo.tenant_uuid to the tenant to serve, or create the "
            "service account inside that tenant"
        )
        own = sim.config.service_accounts[0].tenant_uuid
        status, lines = await doctor(write_config(tmp_path, prosody, sim, tenant_uuid=own), env(prosody))
        assert status == 0, "\n".join(lines)
        assert line(lines, "Wazo tenant") == f"OK   Wazo tenant: serving one tenant, {own} (wazo.tenant_uuid)"


async def test_tenant_uuid_of_a_sub_tenant_or_of_a_stranger(prosody: ProsodyServer, tmp_path: Path) -> None:
    sub = "b0000000-0000-4000-8000-00000000000b"
    async with WazoSimulator(sub_tenant_world()) as sim:
        own = sim.config.service_accounts[0].tenant_uuid
        status, lines = await doctor(write_config(tmp_path, prosody, sim, tenant_uuid=sub), env(prosody))
        assert status == 0, "\n".join(lines)
        assert line(lines, "Wazo permissions").startswith("OK")  # REST acts in the sub-tenant
        assert line(lines, "Wazo tenant") == (
            f"WARN Wazo tenant: serving {sub} (wazo.tenant_uuid) with an account of tenant {own}: phone "
            f"events reach it only if that is the master tenant; create the account in {sub} instead"
        )
        assert (
            line(lines, "users")
            == "OK   users: 1 of 1 Wazo users matched to chat users (email in example.test)"
        )
        stranger = "c0000000-0000-4000-8000-00000000000c"
        status, lines = await doctor(write_config(tmp_path, prosody, sim, tenant_uuid=stranger), env(prosody))
        assert status == 1
        assert line(lines, "Wazo permissions") == (
            f"FAIL Wazo permissions: Wazo refuses wazo.tenant_uuid {stranger}: it is neither the service "
            "account's tenant nor one below it; fix wazo.tenant_uuid (or leave it empty)"
        )


async def test_the_real_cli_in_a_subprocess(prosody: ProsodyServer, tmp_path: Path) -> None:
    async with WazoSimulator(world([a for a in required_acls() if a != "calld.calls.create"])) as sim:
        path = write_config(tmp_path, prosody, sim)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "xmpp_component.cli", "doctor", "--config", str(path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env(prosody)}, cwd=REPO,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    lines = stdout.decode().splitlines()
    assert process.returncode == 1, stderr.decode()
    assert line(lines, "Wazo permissions").startswith("FAIL Wazo permissions: missing calld.calls.create;")
    assert line(lines, "XMPP component").startswith("OK")
    assert line(lines, "Wazo reachable").startswith("WARN Wazo reachable:")  # http:// in tests


async def test_the_component_refuses_to_start_with_an_account_that_sees_several_tenants(
    prosody: ProsodyServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.xmpp.appctl import component_config
    from xmpp_component.app import App

    async with WazoSimulator(sub_tenant_world()) as sim:
        config = component_config(
            prosody,
            tmp_path / "state.sqlite",
            wazo={"enabled": True, "base_url": sim.base_url, "username": "phonepresence"},
            env={"PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD},
        )
        app = App(config)
        await asyncio.wait_for(app.run(install_signal_handlers=False), 30)  # stops by itself
    assert app.fatal is not None
    assert "set wazo.tenant_uuid to the tenant to serve" in app.fatal
    assert any(r.levelno == logging.ERROR and "refusing to start: " in r.getMessage() for r in caplog.records)
    assert len(app.people) == 0


async def test_verify_tls_false_works_but_warns(
    prosody: ProsodyServer, tls_sim: tuple[WazoSimulator, Path], tmp_path: Path
) -> None:
    sim, _cert = tls_sim
    status, lines = await doctor(write_config(tmp_path, prosody, sim, verify_tls=False), env(prosody))
    assert status == 0, "\n".join(lines)
    assert line(lines, "Wazo reachable") == (
        f"WARN Wazo reachable: {sim.base_url} answers (TLS NOT verified); "
        "the service account's password may be read by whoever answers"
    )
    assert line(lines, "Wazo events").startswith("OK")  # wss:// without verification too


async def test_a_postgresql_store_is_checked_without_being_changed(
    prosody: ProsodyServer, postgres: PostgresServer, tmp_path: Path
) -> None:
    url = await postgres.new_database()
    path = tmp_path / "phonepresence.toml"
    path.write_text(
        f'[component]\njid = "{prosody.component}"\nserver_port = {prosody.component_port}\n'
        f'[store]\nurl = "{url}"\n'
    )
    _status, lines = await doctor(path, env(prosody))
    assert line(lines, "store") == (
        f"OK   store: {url} reachable, schema version 0 (the next start migrates it to {SCHEMA_VERSION}); "
        "no instance is active for this component"
    )
    async with PostgresStore(url):
        pass  # a start migrates it
    lock = ActiveLock(url, None, prosody.component)
    await lock.acquire()  # an active instance
    try:
        _status, lines = await doctor(path, env(prosody))
    finally:
        await lock.close()
    assert line(lines, "store") == (
        f"OK   store: {url} reachable, schema version {SCHEMA_VERSION}; "
        "an instance is active for this component now (a new one waits as the standby)"
    )
    broken = tmp_path / "broken.toml"
    broken.write_text(path.read_text().replace(url, url.rsplit("/", 1)[0] + "/no_such_db"))
    status, lines = await doctor(broken, env(prosody))
    assert status == 1
    assert line(lines, "store").startswith("FAIL store: cannot use ")
