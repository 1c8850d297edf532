"""A component stopped while its handshake is still in flight closes its socket: otherwise the
server completes the handshake later and keeps the component's name taken ("conflict" for the
next instance) for as long as the abandoned socket stays open."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devservers.prosody import ProsodyServer
from presence.sources.wazo.config import Secret
from tests.xmpp.appctl import component_config, running_app, wait_until
from xmpp_component.xmpp_handshake import component_handshake


async def test_stopping_before_the_handshake_answer_leaves_the_name_free(
    prosody: ProsodyServer, tmp_path: Path
) -> None:
    with prosody.frozen():  # the kernel accepts the TCP connection; Prosody answers nothing yet
        async with running_app(component_config(prosody, tmp_path / "state.sqlite")) as app:
            await wait_until(lambda: app.xmpp is not None and app.xmpp.transport is not None, 10, "a socket")
            assert app.supervisor is not None
            assert not app.supervisor.online.is_set()
    # The app has stopped; Prosody now reads what was sent. Another instance may connect at once.
    await asyncio.wait_for(
        component_handshake(
            "127.0.0.1", prosody.component_port, prosody.component, Secret(prosody.component_secret), 5
        ),
        10,
    )
