"""The harness itself: a real Prosody starts, users log in, a broken server fails loudly."""

from __future__ import annotations

import pytest

from devservers.prosody import ProsodyServer, ServerStartError


async def test_registered_user_logs_in_and_pings_the_server(xmpp_client, prosody: ProsodyServer) -> None:
    alice = await xmpp_client("alice")
    assert alice.boundjid.bare == f"alice@{prosody.domain}"
    rtt = await alice.plugin["xep_0199"].ping(prosody.domain, timeout=5)
    assert rtt >= 0


def test_a_server_that_cannot_start_raises_with_its_log(tmp_path) -> None:
    server = ProsodyServer(tmp_path)
    server.component_secret = 'unterminated " string breaks the Lua config'
    with pytest.raises(ServerStartError) as failure:
        server.start(timeout=5)
    assert "Prosody did not start" in str(failure.value)
    assert not server.alive
