"""Real slixmpp clients logged into the test server (plaintext loopback settings)."""

from __future__ import annotations

import asyncio

from slixmpp import ClientXMPP


def make_client(jid: str, password: str) -> ClientXMPP:
    """A client configured for a TLS-less loopback server; create it inside the running loop."""
    client = ClientXMPP(jid, password)
    # slixmpp 1.17 refuses SCRAM/PLAIN without TLS and tries direct TLS first; the test server
    # has no TLS at all, so allow plaintext explicitly.
    client.enable_direct_tls = False
    client.enable_starttls = False
    client.enable_plaintext = True
    client.plugin["feature_mechanisms"].unencrypted_scram = True
    client.register_plugin("xep_0030")
    client.register_plugin("xep_0004")
    client.register_plugin("xep_0050")
    client.register_plugin("xep_0092")
    client.register_plugin("xep_0199")
    return client


async def connect_client(jid: str, password: str, port: int, timeout: float = 10.0) -> ClientXMPP:
    client = make_client(jid, password)
    started = asyncio.Event()
    failed: list[str] = []
    client.add_event_handler("session_start", lambda _: started.set())
    client.add_event_handler("failed_auth", lambda _: failed.append("authentication failed"))
    client.connect("127.0.0.1", port)
    try:
        await asyncio.wait_for(started.wait(), timeout)
    except TimeoutError:
        client.abort()
        raise RuntimeError(f"{jid} could not log in: {failed or 'timeout'}") from None
    return client


async def disconnect_client(client: ClientXMPP) -> None:
    client.cancel_connection_attempt()
    if client.transport is not None:
        await client.disconnect(wait=1)
