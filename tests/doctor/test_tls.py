"""wazo.ca_file: the simulator serves HTTPS and WSS with a certificate made in the test; trusted
through ca_file everything works, otherwise the log says which option fixes it."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from presence.model import PhoneEvent
from presence.sources.wazo.client import WazoClient
from tests.doctor.tls import self_signed, server_context
from tests.wazo_client.test_against_simulator import sim_settings
from tests.xmpp.appctl import wait_until
from wazo_sim.app import WazoSimulator
from xmpp_component.config import ConfigError, parse_config

ALICE = "11111111-1111-4111-8111-111111111111"


async def _sink(_event: PhoneEvent) -> None:
    return None


async def test_rest_and_websocket_over_tls_trusted_by_ca_file(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    async with WazoSimulator(ssl_context=server_context(cert, key)) as sim:
        assert sim.base_url.startswith("https://")
        async with WazoClient(sim_settings(sim, ca_file=str(cert)), _sink) as wazo:
            assert wazo.events is not None
            await asyncio.wait_for(wazo.events.synced.wait(), 5)  # wss:// with the same trust
            assert (await wazo.confd.get_user(ALICE)).uuid == ALICE


async def test_untrusted_certificate_is_logged_with_the_option_to_set(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    cert, key = self_signed(tmp_path)
    async with WazoSimulator(ssl_context=server_context(cert, key)) as sim:
        wazo = WazoClient(sim_settings(sim), _sink)  # the system's CAs do not know this certificate
        starting = asyncio.create_task(wazo.start())
        try:
            await wait_until(lambda: "not trusted" in caplog.text, 10, "the TLS error line")
        finally:
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            await wazo.close()
    line = next(r.getMessage() for r in caplog.records if "not trusted" in r.getMessage())
    assert line.startswith(
        "Cannot get a Wazo service token (attempt 1: auth POST /token: no answer tls-untrusted:"
    )
    assert "Wazo's TLS certificate is not trusted (" in line
    assert (
        "give its CA certificate with wazo.ca_file (or, in a lab only, set wazo.verify_tls = false)" in line
    )


async def test_untrusted_websocket_certificate_is_logged_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    cert, key = self_signed(tmp_path, "rest")
    other_cert, other_key = self_signed(tmp_path, "events")
    async with (
        WazoSimulator(ssl_context=server_context(cert, key)) as sim,
        WazoSimulator(ssl_context=server_context(other_cert, other_key)) as events_host,
    ):
        settings = sim_settings(sim, ca_file=str(cert), websocketd_url=events_host.websocket_url)
        async with WazoClient(settings, _sink):
            await wait_until(
                lambda: "Wazo event stream down (Wazo's TLS certificate is not trusted" in caplog.text,
                10,
                "the websocket's TLS error line",
            )
    assert "wazo.ca_file" in next(
        r.getMessage() for r in caplog.records if "event stream down" in r.getMessage()
    )


def _wazo(tmp_path: Path, **wazo: object) -> None:
    parse_config(
        {"component": {"jid": "phone.example.org"}, "wazo": {"enabled": True, **wazo}},
        {"PHONEPRESENCE_COMPONENT_SECRET": "s", "PHONEPRESENCE_WAZO_PASSWORD": "p"},
    )


def test_ca_file_is_checked_when_the_configuration_is_read(tmp_path: Path) -> None:
    cert, _key = self_signed(tmp_path)
    _wazo(tmp_path, ca_file=str(cert))
    with pytest.raises(ConfigError, match=r"^wazo\.ca_file: expected a readable PEM file of CA certificates"):
        _wazo(tmp_path, ca_file=str(tmp_path / "missing.crt"))
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"^wazo\.ca_file: expected a PEM file of CA certificates"):
        _wazo(tmp_path, ca_file=str(garbage))
    with pytest.raises(ConfigError, match=r"^wazo\.verify_tls: expected true when wazo\.ca_file is set"):
        _wazo(tmp_path, ca_file=str(cert), verify_tls=False)
