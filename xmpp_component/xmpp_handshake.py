"""One XEP-0114 handshake and nothing else: does the XMPP server accept the component's secret?

Written on a bare socket rather than with slixmpp so that the doctor gets the server's exact
answer (``not-authorized``, ``host-unknown``...) at once instead of a reconnect loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from typing import Any
from xml.etree.ElementTree import XMLPullParser
from xml.sax.saxutils import quoteattr

from presence.sources.wazo.config import Secret

NS_STREAMS = "http://etherx.jabber.org/streams"
NS_COMPONENT = "jabber:component:accept"


class HandshakeRefused(Exception):
    """The server answered, but not with an accepted handshake; ``condition`` is its stream error."""

    def __init__(self, condition: str, text: str = "") -> None:
        super().__init__(condition + (f" ({text})" if text else ""))
        self.condition = condition
        self.text = text


async def component_handshake(host: str, port: int, domain: str, secret: Secret, timeout: float) -> None:
    """Open a component stream, hand shake, close. Raises OSError/TimeoutError or HandshakeRefused."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        async with asyncio.timeout(timeout):
            writer.write(
                f"<stream:stream xmlns='{NS_COMPONENT}' xmlns:stream='{NS_STREAMS}' "
                f"to={quoteattr(domain)}>".encode()
            )
            await writer.drain()
            parser: Any = XMLPullParser(events=("start", "end"))  # typeshed: its events are unions
            while True:
                data = await reader.read(4096)
                if not data:
                    raise HandshakeRefused("connection closed by the server")
                parser.feed(data)
                for event, element in parser.read_events():
                    if event == "start" and element.tag == f"{{{NS_STREAMS}}}stream":
                        stream_id = element.get("id", "")
                        digest = hashlib.sha1((stream_id + secret.reveal()).encode()).hexdigest()  # noqa: S324  # XEP-0114 mandates SHA-1
                        writer.write(f"<handshake>{digest}</handshake>".encode())
                        await writer.drain()
                    elif event == "end" and element.tag == f"{{{NS_COMPONENT}}}handshake":
                        writer.write(b"</stream:stream>")
                        await writer.drain()
                        while await reader.read(4096):  # until the server closes its side too
                            pass
                        return
                    elif event == "end" and element.tag == f"{{{NS_STREAMS}}}error":
                        conditions = [c.tag.split("}")[-1] for c in element if not c.tag.endswith("}text")]
                        texts = [c.text or "" for c in element if c.tag.endswith("}text")]
                        raise HandshakeRefused(conditions[0] if conditions else "error", "".join(texts))
    finally:
        writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await writer.wait_closed()
