"""``phonepresence doctor``: check a configuration against the real servers, one line per check.

In order: the configuration; the XMPP server's answer to the component handshake; the PostgreSQL
store when ``store.url`` is set (reachable, schema version, an active instance); Wazo reached
with TLS as configured; the service account's password; every ACL the component needs
(presence/sources/wazo/acl.py: read-only calls are tried, the others asked of wazo-auth by
name); the tenant; the websocket with its subscriptions; how Wazo's users map to chat users.
Each line is ``OK``, ``WARN`` (works, but look) or ``FAIL`` followed by what to do; the exit
status is 0 when nothing failed. Nothing is changed on either server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from presence.identity import MatchRule, PbxUser, build_people
from presence.sources.wazo.acl import EVENT_NEEDS, REST_NEEDS, WEBSOCKET_ACL, RestNeed, required_acls
from presence.sources.wazo.auth import parse_token_response
from presence.sources.wazo.confd import ConfdClient, WazoUser
from presence.sources.wazo.config import Secret, WazoSettings
from presence.sources.wazo.errors import WazoError, WazoShapeError, untrusted_certificate
from presence.sources.wazo.events import CLOSE_REASONS
from presence.sources.wazo.http import WazoHttp
from presence.sources.wazo.parsing import SUBSCRIBED_EVENTS
from presence.sources.wazo.tenants import SeveralTenants, check_single_tenant
from xmpp_component.config import Config, ConfigError, load_config
from xmpp_component.xmpp_handshake import HandshakeRefused, component_handshake

OK, WARN, FAIL, SKIP = "OK", "WARN", "FAIL", "SKIP"
README_SECTION = 'README "Connecting to Wazo"'
# A short token: the doctor needs it for a few seconds.
DOCTOR_TOKEN_LIFETIME = 300


@dataclass
class Result:
    status: str
    what: str
    text: str
    details: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"{self.status:<4} {self.what}: {self.text}", *(f"     - {d}" for d in self.details)]


class Doctor:
    """Runs the checks in order; a failed check skips those that cannot work without it."""

    def __init__(self, out: TextIO, env: Mapping[str, str] | None = None) -> None:
        self._out = out
        self._env = env
        self.results: list[Result] = []

    def _report(self, status: str, what: str, text: str, details: list[str] | None = None) -> Result:
        result = Result(status, what, text, details or [])
        self.results.append(result)
        for line in result.lines():
            print(line, file=self._out, flush=True)
        return result

    @property
    def failed(self) -> bool:
        return any(r.status == FAIL for r in self.results)

    async def run(self, path: Path) -> int:
        try:
            config = load_config(path, self._env)
        except ConfigError as exc:
            self._report(FAIL, "configuration", f"{exc}; fix it (phonepresence check-config says the same)")
            return 1
        self._report(OK, "configuration", f"{path} is valid")
        await self._check_xmpp(config)
        if config.store.url:
            await self._check_store(config)
        if not config.wazo.enabled:
            self._report(WARN, "Wazo", "wazo.enabled = false: no phone state; set it to true to use Wazo")
        else:
            from xmpp_component.app import wazo_settings  # late: the XMPP part above needs none of it

            await self._check_wazo(config, wazo_settings(config))
        return 1 if self.failed else 0

    # --- XMPP ----------------------------------------------------------------------------------------

    async def _check_xmpp(self, config: Config) -> None:
        c = config.component
        where = f"{c.server_host}:{c.server_port}"
        what = "XMPP component"
        try:
            await component_handshake(c.server_host, c.server_port, c.jid, config.component_secret, 10.0)
        except HandshakeRefused as refused:
            hints = {
                "not-authorized": f"the server refused the secret: use the same secret in ${c.secret_env} "
                "(or component.secret_file) and in the server's component declaration",
                "host-unknown": f"the server has no component {c.jid}: declare it "
                "(conf/prosody-component.cfg.lua or conf/ejabberd-component.yml) or fix component.jid",
                "conflict": "another component is connected with this name: stop it first",
            }
            hint = hints.get(refused.condition, f"the server answered {refused}")
            self._report(FAIL, what, f"{where} refused the handshake ({refused.condition}); {hint}")
        except (OSError, TimeoutError) as exc:
            self._report(
                FAIL,
                what,
                f"cannot reach {where} ({type(exc).__name__}: {exc}); check component.server_host and "
                "component.server_port against the server's component listener (Prosody: component_ports)",
            )
        else:
            self._report(OK, what, f"{where} accepted {c.jid} with the secret")

    # --- PostgreSQL store ---------------------------------------------------------------------------

    async def _check_store(self, config: Config) -> None:
        from store.db import SCHEMA_VERSION
        from store.postgres import inspect

        password = config.store_password.reveal() if config.store_password is not None else None
        try:
            state = await inspect(config.store.url, password, config.component.jid)
        except Exception as exc:  # unreachable, refused, wrong password, no such database
            self._report(
                FAIL,
                "store",
                f"cannot use {config.store.url} ({type(exc).__name__}: {exc}); check store.url, the "
                f"password (${config.store.password_env} or store.password_file) and pg_hba.conf",
            )
            return
        if state.schema_version > SCHEMA_VERSION:
            self._report(
                FAIL,
                "store",
                f"{config.store.url} has schema version {state.schema_version}, newer than this "
                f"program's {SCHEMA_VERSION}: run a newer phonepresence",
            )
            return
        schema = (
            f"schema version {state.schema_version}"
            if state.schema_version == SCHEMA_VERSION
            else f"schema version {state.schema_version} (the next start migrates it to {SCHEMA_VERSION})"
        )
        active = (
            "an instance is active for this component now (a new one waits as the standby)"
            if state.active_instance
            else "no instance is active for this component"
        )
        self._report(OK, "store", f"{config.store.url} reachable, {schema}; {active}")

    # --- Wazo ----------------------------------------------------------------------------------------

    async def _check_wazo(self, config: Config, settings: WazoSettings) -> None:
        async with aiohttp.ClientSession() as session:
            if not await self._check_reachable(session, settings):
                return
            token = await self._check_account(session, config, settings)
            if token is None:
                return
            token_value, tenant = token

            async def fixed_token(_rejected: Secret | None) -> Secret:
                return token_value

            http = WazoHttp(session, settings, fixed_token)
            try:
                users = await self._check_acls(session, settings, http, token_value)
                if users is None:
                    self._report(SKIP, "Wazo tenant", "needs confd.users.read")
                else:
                    await self._check_tenant(http, settings, tenant)
            finally:
                await http.close()
            await self._check_websocket(session, settings, token_value)
            if users is None:
                self._report(SKIP, "users", "needs confd.users.read")
            else:
                self._check_users(config, users)
            await self._revoke(session, settings, token_value)

    async def _check_reachable(self, session: aiohttp.ClientSession, settings: WazoSettings) -> bool:
        what = "Wazo reachable"
        # Any HTTP answer will do (an unknown token gives 404): it proves the address and TLS.
        url = f"{settings.auth}/token/{uuid.uuid4()}"
        if not settings.auth.startswith("https://"):
            tls = "plain http, no TLS"
        elif settings.ca_file:
            tls = "TLS with wazo.ca_file"
        else:
            tls = "TLS verified" if settings.verify_tls else "TLS NOT verified"
        try:
            async with session.head(
                url, ssl=settings.tls(), timeout=aiohttp.ClientTimeout(total=settings.request_timeout_s)
            ) as response:
                status = response.status
        except aiohttp.ClientConnectorCertificateError as exc:
            self._report(FAIL, what, untrusted_certificate(str(exc.certificate_error)))
            return False
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            detail = str(exc) or type(exc).__name__
            self._report(FAIL, what, f"{settings.base_url}: {detail}; check wazo.base_url")
            return False
        if status >= 500 or status in (301, 302, 401, 403):
            self._report(FAIL, what, f"{url} answered HTTP {status}: is wazo.base_url a Wazo stack?")
            return False
        warn = not settings.verify_tls or not settings.auth.startswith("https://")
        note = "; the service account's password may be read by whoever answers" if warn else ""
        self._report(WARN if warn else OK, what, f"{settings.base_url} answers ({tls}){note}")
        return True

    async def _check_account(
        self, session: aiohttp.ClientSession, config: Config, settings: WazoSettings
    ) -> tuple[Secret, str] | None:
        what = "Wazo service account"
        http = WazoHttp(session, settings)
        try:
            try:
                body = await http.request(
                    "auth",
                    "POST",
                    "/token",
                    json_body={"expiration": DOCTOR_TOKEN_LIFETIME},
                    basic_auth=(settings.username, settings.password),
                    log_failure=False,
                )
            finally:
                await http.close()
            token, _lifetime = parse_token_response(body, DOCTOR_TOKEN_LIFETIME)
        except WazoError as error:
            if error.status == 401:
                where = f"${config.wazo.password_env}" + (
                    f" or {config.wazo.password_file}" if config.wazo.password_file else ""
                )
                self._report(
                    FAIL,
                    what,
                    f"wazo-auth refused {settings.username!r} and its password; check wazo.username and "
                    f"the password in {where} (wazo-auth-cli user show {settings.username})",
                )
            else:
                self._report(FAIL, what, f"cannot get a token: {error}")
            return None
        except WazoShapeError as exc:
            self._report(FAIL, what, f"wazo-auth's answer is not a token: {exc}")
            return None
        data = body["data"]
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        purpose = metadata.get("purpose", "")
        tenant = str(metadata.get("tenant_uuid") or "")
        if purpose == "user":
            self._report(
                WARN,
                what,
                f"{settings.username!r} is a phone user's account (purpose user): events of other users "
                "will not reach it; create a service account with purpose external_api",
            )
        else:
            self._report(OK, what, f"{settings.username!r} authenticated (purpose {purpose or '?'})")
        return token, tenant

    async def _check_acls(
        self, session: aiohttp.ClientSession, settings: WazoSettings, http: WazoHttp, token: Secret
    ) -> list[WazoUser] | None:
        """Try each read-only call; ask wazo-auth about the rest. Returns the users if readable."""
        what = "Wazo permissions"
        missing: list[str] = []
        trouble: list[str] = []
        users: list[WazoUser] | None = None
        sample: str | None = None
        try:
            users = await ConfdClient(http).list_users()
            sample = users[0].uuid if users else None
        except WazoError as error:
            if error.error_id == "unauthorized-tenant":
                self._report(
                    FAIL,
                    what,
                    f"Wazo refuses wazo.tenant_uuid {settings.tenant_uuid}: it is neither the service "
                    "account's tenant nor one below it; fix wazo.tenant_uuid (or leave it empty)",
                )
                return None
            if error.status not in (401, 403):
                trouble.append(str(error))
        for need in REST_NEEDS:
            probe = _probe(need, sample)
            if probe is None:
                granted = await _scope_granted(session, settings, token, need.acl)
            else:
                path, params = probe
                try:
                    await http.request(need.service, need.method, path, params=params, log_failure=False)
                    granted = True
                except WazoError as error:
                    if error.status not in (401, 403):
                        trouble.append(str(error))
                        continue
                    granted = False
            if granted is None:
                trouble.append(f"wazo-auth could not check {need.acl}")
            elif not granted:
                missing.append(need.acl)
        for acl in (WEBSOCKET_ACL, *(need.acl for need in EVENT_NEEDS)):
            granted = await _scope_granted(session, settings, token, acl)
            if granted is None:
                trouble.append(f"wazo-auth could not check {acl}")
            elif not granted:
                missing.append(acl)
        missing = [acl for acl in required_acls() if acl in missing]  # in the README's order
        if missing:
            self._report(
                FAIL,
                what,
                f"missing {', '.join(missing)}; add them to the service account's policy ({README_SECTION})",
            )
        elif trouble:
            self._report(FAIL, what, "could not check every ACL", trouble)
        else:
            self._report(OK, what, f"all {len(required_acls())} ACLs granted")
        return users

    async def _check_tenant(self, http: WazoHttp, settings: WazoSettings, token_tenant: str) -> None:
        what = "Wazo tenant"
        try:
            await check_single_tenant(http, settings.tenant_uuid)
        except SeveralTenants as refused:
            self._report(FAIL, what, str(refused))
            return
        except WazoError as error:
            self._report(FAIL, what, f"cannot count the users of other tenants: {error}")
            return
        if settings.tenant_uuid and token_tenant and settings.tenant_uuid != token_tenant:
            # websocketd sends a token the events of its own tenant, every tenant's for the master
            # tenant only (reference wazo-api.md §3.5): REST works, events may not arrive.
            self._report(
                WARN,
                what,
                f"serving {settings.tenant_uuid} (wazo.tenant_uuid) with an account of tenant "
                f"{token_tenant}: phone events reach it only if that is the master tenant; "
                f"create the account in {settings.tenant_uuid} instead",
            )
            return
        chosen = "wazo.tenant_uuid" if settings.tenant_uuid else "the service account's own"
        self._report(
            OK, what, f"serving one tenant, {settings.tenant_uuid or token_tenant or '?'} ({chosen})"
        )

    async def _check_websocket(
        self, session: aiohttp.ClientSession, settings: WazoSettings, token: Secret
    ) -> None:
        what = "Wazo events"
        try:
            async with asyncio.timeout(settings.request_timeout_s):
                ws = await session.ws_connect(
                    settings.websocketd,
                    params={"version": "2"},
                    headers={"X-Auth-Token": token.reveal()},
                    ssl=settings.tls(),
                )
                try:
                    await _expect(ws, "init")
                    for name in SUBSCRIBED_EVENTS:
                        await ws.send_json({"op": "subscribe", "data": {"event_name": name}})
                        await _expect(ws, "subscribe")
                    await ws.send_json({"op": "start"})
                    await _expect(ws, "start")
                finally:
                    await ws.close()
        except _Closed as closed:
            hint = " (is the ACL websocketd granted?)" if closed.code == 4002 else ""
            self._report(FAIL, what, f"{settings.websocketd} closed the stream: {closed}{hint}")
        except aiohttp.ClientConnectorCertificateError as exc:
            self._report(FAIL, what, untrusted_certificate(str(exc.certificate_error)))
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._report(
                FAIL, what, f"{settings.websocketd}: {type(exc).__name__} {exc}; is websocketd running?"
            )
        else:
            self._report(
                OK, what, f"websocketd accepted the token and {len(SUBSCRIBED_EVENTS)} subscriptions"
            )

    def _check_users(self, config: Config, users: list[WazoUser]) -> None:
        from xmpp_component.app import user_domains  # late, as in run()

        what = "users"
        domains = user_domains(config)
        rule = MatchRule(config.identity.match)
        people, problems = build_people(
            (PbxUser(u.uuid, u.email, u.username, u.display_name) for u in users),
            rule,
            domains,
            config.identity.overrides,
        )
        by_uuid = {u.uuid: u for u in users}
        details: list[str] = []
        duplicates = 0
        for problem in problems:
            user = by_uuid.get(problem.wazo_uuid)
            if user is None:  # an override naming nobody
                details.append(f"{problem.reason}: fix identity.overrides")
                continue
            reason, fix, duplicate = _unmatched_reason(user, rule, domains)
            duplicates += duplicate
            details.append(f"{_who(user)}: {reason} -> {fix}")
        for person in people.by_uuid.values():
            user = by_uuid[person.wazo_uuid]
            if not user.lines:
                details.append(
                    f"{_who(user)} ({person.chat_jid}): no line -> chat presence only and no calls; "
                    "give the user a line in Wazo"
                )
        summary = (
            f"{len(people)} of {len(users)} Wazo users matched to chat users "
            f"({rule.value} in {', '.join(domains)})"
        )
        if not people or duplicates:
            status = FAIL
        elif details:
            status = WARN
        else:
            status = OK
        if not people:
            summary += "; nobody gets a phone JID: check component.user_domains and identity.match"
        self._report(status, what, summary, details)

    async def _revoke(self, session: aiohttp.ClientSession, settings: WazoSettings, token: Secret) -> None:
        """Leave no session behind (wazo-auth lists live sessions)."""
        try:
            async with session.delete(f"{settings.auth}/token/{token.reveal()}", ssl=settings.tls()):
                pass
        except (aiohttp.ClientError, OSError, TimeoutError):
            pass  # it expires in a few minutes anyway


class _Closed(Exception):
    def __init__(self, text: str, code: int | None) -> None:
        super().__init__(text)
        self.code = code


async def _expect(ws: aiohttp.ClientWebSocketResponse, op: str) -> None:
    message = await ws.receive()
    if message.type is aiohttp.WSMsgType.TEXT:
        frame: Any = message.json()
        if isinstance(frame, dict) and frame.get("op") == op:
            return
        raise _Closed(f"expected {op!r}, got {message.data[:120]!r}", None)
    code = ws.close_code
    raise _Closed(f"close code {code} {CLOSE_REASONS.get(code or 0, '')}".strip(), code)


def _probe(need: RestNeed, sample_user: str | None) -> tuple[str, dict[str, str]] | None:
    """The harmless request that proves ``need``'s ACL, or None to ask wazo-auth instead."""
    if not need.read_only:
        return None
    params: dict[str, str] = {}
    path = need.path
    if "{user_id}" in path:
        if sample_user is None:
            return None
        path = path.replace("{user_id}", sample_user)
    if "{" in path:
        return None
    if need.path == "/users":
        params["limit"] = "1"
    if need.path == "/voicemails/messages" and sample_user is not None:
        params["user_uuid"] = sample_user
    return path, params


async def _scope_granted(
    session: aiohttp.ClientSession, settings: WazoSettings, token: Secret, acl: str
) -> bool | None:
    """wazo-auth's token check (HEAD /token/{token}?scope=...): 204 granted, 403 not (§2.2)."""
    try:
        async with session.head(
            f"{settings.auth}/token/{token.reveal()}",
            params={"scope": acl},
            ssl=settings.tls(),
            timeout=aiohttp.ClientTimeout(total=settings.request_timeout_s),
        ) as response:
            status = response.status
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None
    if status in (200, 204):
        return True
    if status == 403:
        return False
    return None


def _who(user: WazoUser) -> str:
    name = user.display_name or user.username or "(no name)"
    return f"Wazo user {name} [{user.uuid}]"


def _unmatched_reason(user: WazoUser, rule: MatchRule, domains: tuple[str, ...]) -> tuple[str, str, bool]:
    """(reason, what to do, is a duplicate) for a user build_people left out."""
    override = "or map it in identity.overrides"
    if rule is MatchRule.EMAIL:
        email = user.email.strip()
        if not email or "@" not in email:
            return "no email", f"set an email in {domains[0]} on the user in Wazo, {override}", False
        domain = email.rsplit("@", 1)[1].lower()
        if domain not in domains:
            return (
                f"email {email} is in another domain ({domain})",
                f"add {domain} to component.user_domains if its users are chat users, {override}",
                False,
            )
        return f"email {email} is also another Wazo user's", "give each Wazo user their own email", True
    if not user.username:
        return "no username", f"set a username on the user in Wazo, {override}", False
    return f"username {user.username} maps to a chat JID already taken", "map one in identity.overrides", True


def run_doctor(path: Path, out: TextIO, env: Mapping[str, str] | None = None) -> int:
    return asyncio.run(Doctor(out, env).run(path))
