"""REST clients and the token keeper against a scripted fake Wazo on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket

import pytest

from presence.model import CallStatus, LineState
from presence.sources.wazo.client import WazoClient
from presence.sources.wazo.confd import Forward, ForwardKind
from presence.sources.wazo.config import Secret, WazoSettings
from presence.sources.wazo.errors import WazoError
from tests.wazo_client.fake_wazo import PASSWORD, FakeWazo
from tests.wazo_client.payloads import ALICE, call, presence


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _no_secret_in(caplog: pytest.LogCaptureFixture, fake: FakeWazo) -> None:
    text = caplog.text
    assert PASSWORD not in text
    for token in fake.tokens_issued:
        assert token not in text


async def test_token_is_created_with_basic_auth_and_sent_on_rest_calls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeWazo(presences=[presence(ALICE, "talking")]) as fake, WazoClient(fake.settings()) as wazo:
        states = await wazo.chatd.list_presences()
        assert [(s.user_uuid, s.line_state) for s in states] == [(ALICE, LineState.TALKING)]
        token_request = fake.requests_to("POST", "/api/auth/0.1/token")[0]
        assert token_request.body == {"expiration": 6 * 3600}
        assert token_request.headers["Authorization"].startswith("Basic ")
        presence_request = fake.requests_to("GET", "/api/chatd/1.0/users/presences")[0]
        assert presence_request.headers["X-Auth-Token"] == fake.tokens_issued[0]
        _no_secret_in(caplog, fake)


async def test_tenant_header_is_sent_when_configured() -> None:
    async with FakeWazo() as fake, WazoClient(fake.settings(tenant_uuid="t-1")) as wazo:
        await wazo.calld.list_calls()
        assert fake.requests_to("GET", "/api/calld/1.0/calls")[0].headers["Wazo-Tenant"] == "t-1"


async def test_auth_down_at_start_up_is_retried_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with FakeWazo(auth_failures=3) as fake:
        async with WazoClient(fake.settings()) as wazo:
            assert len(fake.requests_to("POST", "/api/auth/0.1/token")) == 4
            assert wazo.tokens.tokens_created == 1
        failures = [r for r in caplog.records if "Cannot get a Wazo service token" in r.getMessage()]
        assert len(failures) == 3
        assert "wazo-auth is down or unreachable" in failures[0].getMessage()
        assert "auth POST /token" in failures[0].getMessage()
        _no_secret_in(caplog, fake)


async def test_wrong_password_is_reported_without_the_password(caplog: pytest.LogCaptureFixture) -> None:
    async with FakeWazo() as fake:
        wazo = WazoClient(fake.settings(password=Secret("wrong-" + PASSWORD)))
        starting = asyncio.create_task(wazo.start())
        try:
            # The client keeps retrying (an operator may fix the password): wait for its 2nd try.
            await fake.wait_until(lambda: len(fake.requests_to("POST", "/api/auth/0.1/token")) >= 2)
            assert not starting.done()
        finally:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            await wazo.close()
    messages = [r.getMessage() for r in caplog.records]
    assert any("401" in m and "check the service account" in m for m in messages)
    assert PASSWORD not in caplog.text


async def test_401_recreates_the_token_once_and_retries() -> None:
    async with FakeWazo(calls=[call("1", ALICE)]) as fake, WazoClient(fake.settings()) as wazo:
        fake.revoke_all_tokens()
        calls = await wazo.calld.list_calls()
        assert [c.call_id for c in calls] == ["1"]
        assert len(fake.tokens_issued) == 2
        attempts = fake.requests_to("GET", "/api/calld/1.0/calls")
        assert [r.headers["X-Auth-Token"] for r in attempts] == fake.tokens_issued


async def test_token_is_renewed_before_expiry_and_subscribers_are_told() -> None:
    # The lifetime comes from the token's own dates; renewal is due at 80 % of it. Nothing but the
    # renewer asks for a token here (no request gets a 401), so a second token is the renewal.
    lifetime = 2.5
    async with FakeWazo(token_lifetime_s=lifetime) as fake, WazoClient(fake.settings()) as wazo:
        renewed: list[Secret] = []
        wazo.tokens.subscribe(renewed.append)
        assert wazo.tokens.renew_delay_s == pytest.approx(0.8 * lifetime)
        await fake.wait_until(lambda: len(fake.tokens_issued) >= 2 and bool(renewed))
        assert renewed[0].reveal() == fake.tokens_issued[1]
        # Not early (load only delays it), and before the first token expired: the 0.5 s between
        # 80 % and expiry are the slack a loaded machine gets.
        gap = fake.tokens_issued_at[1] - fake.tokens_issued_at[0]
        assert 0.8 * lifetime <= gap < lifetime


@pytest.mark.parametrize(
    ("status", "raw", "error_id", "message_part"),
    [
        (
            503,
            '{"error_id": "not-initialized", "message": "Presences are not initialized"}',
            "not-initialized",
            "not initialized",
        ),
        (
            400,
            '{"error_id": "invalid-extension", "message": "Invalid extension"}',
            "invalid-extension",
            "Invalid",
        ),
        (500, "<html>Internal Server Error</html>", "http-500", "Internal Server Error"),
        (200, "{not json", "malformed-json", "not JSON"),
        # (One malformed item of a list is skipped, see test_parsing; a non-list is an error.)
        (200, b'{"items": "\xff\xfe latin-1 bytes"}', "unexpected-shape", "must be a list"),
        (200, b"\xff\xfe{not json", "malformed-json", "not JSON"),
        (200, '{"items": "nope"}', "unexpected-shape", "items"),
    ],
)
async def test_every_remote_failure_is_one_wazo_error_and_one_log_line(
    caplog: pytest.LogCaptureFixture, status: int, raw: str | bytes, error_id: str, message_part: str
) -> None:
    async with FakeWazo() as fake, WazoClient(fake.settings()) as wazo:
        fake.canned[("GET", "/api/chatd/1.0/users/presences")] = (status, raw)
        caplog.clear()
        with pytest.raises(WazoError) as caught:
            await wazo.chatd.list_presences()
    error = caught.value
    assert (error.endpoint, error.error_id) == ("chatd GET /users/presences", error_id)
    assert error.status == status
    assert message_part in error.message
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1
    assert "chatd GET /users/presences" in lines[0]
    assert error_id in lines[0]
    _no_secret_in(caplog, fake)


async def test_connection_refused_and_timeout_are_wazo_errors() -> None:
    async with FakeWazo() as fake, WazoClient(fake.settings()) as wazo:
        await wazo.calld.list_calls()
        # Point calld at a closed port: refused.
        refused = WazoClient(
            fake.settings(calld_url=f"http://127.0.0.1:{free_port()}/1.0"), session=wazo.session
        )
        refused.tokens = wazo.tokens
        refused.http.set_token_source(wazo.tokens.token_for_request)
        with pytest.raises(WazoError) as caught:
            await refused.calld.list_calls()
        assert (caught.value.status, caught.value.error_id) == (None, "connection-failed")
        assert caught.value.retryable


async def test_timeout_is_a_wazo_error() -> None:
    # A listening socket that never answers: the request times out.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        async with FakeWazo() as fake:
            settings = fake.settings(calld_url=f"http://127.0.0.1:{port}/1.0", request_timeout_s=0.2)
            async with WazoClient(settings) as wazo:
                with pytest.raises(WazoError) as caught:
                    await wazo.calld.list_calls()
    assert (caught.value.status, caught.value.error_id) == (None, "timeout")


@pytest.mark.parametrize(
    ("answer", "error_id", "message_part"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "bad-reply", "not an HTTP reply"),
        (b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"items": [', "connection-failed", "closed"),
    ],
)
async def test_a_reply_that_is_not_http_or_cut_short_is_a_wazo_error(
    caplog: pytest.LogCaptureFixture, answer: bytes, error_id: str, message_part: str
) -> None:
    """Something else than Wazo on calld's port, or a reply cut by the connection's end: one
    WazoError naming it (and no token in the log), not an exception from the HTTP client."""

    async def odd(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(odd, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with FakeWazo() as fake:
            settings = fake.settings(calld_url=f"http://127.0.0.1:{port}/1.0")
            async with WazoClient(settings) as wazo:
                with pytest.raises(WazoError) as caught:
                    await wazo.calld.list_calls()
            _no_secret_in(caplog, fake)
    finally:
        server.close()
    assert (caught.value.endpoint, caught.value.status) == ("calld GET /calls", None)
    assert caught.value.error_id == error_id
    assert message_part in caught.value.message
    assert caught.value.retryable


async def test_calld_originate_hangup_and_confd_services() -> None:
    async with FakeWazo() as fake, WazoClient(fake.settings()) as wazo:
        fake.canned[("POST", "/api/calld/1.0/calls")] = (
            201,
            json.dumps(call("1700.5", ALICE, "Ringing", is_caller=True)),
        )
        fake.canned[("DELETE", "/api/calld/1.0/calls/1700.5")] = (204, "")
        fake.canned[("GET", f"/api/confd/1.1/users/{ALICE}/services/dnd")] = (200, '{"enabled": true}')
        fake.canned[("PUT", f"/api/confd/1.1/users/{ALICE}/services/dnd")] = (204, "")
        fake.canned[("PUT", f"/api/confd/1.1/users/{ALICE}/forwards/busy")] = (204, "")
        placed = await wazo.calld.originate(ALICE, " 1002 ", "default", line_id=3)
        assert placed.call_id == "1700.5"
        assert placed.status is CallStatus.RINGING
        await wazo.calld.hangup("1700.5")
        assert await wazo.confd.get_dnd(ALICE) is True
        await wazo.confd.set_dnd(ALICE, False)
        await wazo.confd.set_forward(ALICE, ForwardKind.BUSY, Forward(True, "1003"))
        sent = fake.requests_to("POST", "/api/calld/1.0/calls")[0].body
        assert sent == {
            "source": {"user": ALICE, "line_id": 3},
            "destination": {"extension": "1002", "context": "default", "priority": 1},
            "variables": {},
        }
        assert fake.requests_to("PUT", f"/api/confd/1.1/users/{ALICE}/services/dnd")[0].body == {
            "enabled": False
        }
        # which phone rings first: every line, or the mobile (calld's choices)
        await wazo.calld.originate(ALICE, "1002", "default", all_lines=True)
        await wazo.calld.originate(ALICE, "1002", "default", from_mobile=True)
        sources = [r.body["source"] for r in fake.requests_to("POST", "/api/calld/1.0/calls")[1:]]
        assert sources == [{"user": ALICE, "all_lines": True}, {"user": ALICE, "from_mobile": True}]


def test_secret_never_shows_itself() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert secret.reveal() == "hunter2"
    settings = WazoSettings(base_url="https://wazo.example", username="svc", password=secret)
    assert "hunter2" not in repr(settings)
    error = WazoError("auth POST /token", 401, "unauthorized", "Authentication Failed")
    assert "hunter2" not in repr(error)
