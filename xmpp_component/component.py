"""The slixmpp component: stream, service discovery, ping and version.

Anything that is a workaround for a slixmpp behaviour is marked ``slixmpp:`` with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from xml.etree.ElementTree import Element

from slixmpp import ComponentXMPP
from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.xmlstream import NotConnectedError

import xmpp_component
from xmpp_component.outbox import Outbox

log = logging.getLogger(__name__)
# slixmpp logs every write on its stream's logger: the same lines, from our send_raw.
_wire_log = logging.getLogger("slixmpp.xmlstream.xmlstream")

IDENTITY = ("component", "presence", "Phone presence")
NS_PHONEPRESENCE = "urn:phonepresence:0"
COMMAND_TAG = "{http://jabber.org/protocol/commands}command"


def detach_default_roster_handlers(xmpp: ComponentXMPP) -> None:
    """slixmpp: remove the in-memory roster's subscription and probe bookkeeping.

    After a restart that roster is empty, so slixmpp would answer every subscriber's probe with
    ``unsubscribed`` and silently drop their subscription (seen on Prosody and ejabberd).
    Subscriptions belong to the component's store; its presence module answers them instead.
    """
    for event, handler in (
        ("presence_probe", xmpp._handle_probe),
        ("presence_subscribe", xmpp._handle_subscribe),
        ("presence_subscribed", xmpp._handle_subscribed),
        ("presence_unsubscribe", xmpp._handle_unsubscribe),
        ("presence_unsubscribed", xmpp._handle_unsubscribed),
        ("roster_subscription_request", xmpp._handle_new_subscription),
    ):
        xmpp.del_event_handler(event, handler)


class PhoneComponent(ComponentXMPP):
    """The XEP-0114 component. Create it inside the running event loop (slixmpp binds to it)."""

    def __init__(self, jid: str, secret: str, host: str, port: int) -> None:
        self.outbox = Outbox()
        super().__init__(jid, secret, host, port, fix_error_ns=True)  # type: ignore[no-untyped-call]
        detach_default_roster_handlers(self)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0004")
        self.register_plugin("xep_0050")
        self.register_plugin("xep_0066")  # out-of-band data: the voicemail notices' recording link
        self.register_plugin(
            "xep_0092", {"software_name": "phonepresence", "version": xmpp_component.__version__}
        )
        # slixmpp: keepalive off, as its timeout calls reconnect() beside the supervisor's own loop;
        # the supervisor (connection.py) sends the keepalive pings. Here: answering pings.
        self.register_plugin("xep_0199", {"keepalive": False})
        self.register_plugin("xep_0356")
        self.add_event_handler("session_start", self._announce_identity)
        # Where XEP-0050 command IQs go instead of slixmpp's handlers (see _spawn_event).
        self.command_route: Callable[[Element], None] | None = None
        self._iq_tag = f"{{{self.default_ns}}}iq"

    def _spawn_event(self, xml: Element) -> None:
        """slixmpp: a command IQ (``iq type=set`` with an XEP-0050 ``command`` child) goes
        straight to :attr:`command_route` as parsed XML. slixmpp's path builds a stanza object
        and matches it against every registered handler (a dozen ``StanzaPath`` matches), which
        cost a click-to-call more CPU than the command's own steps; the route is the only
        handler such an IQ had. Stream filters ("in") would see the stanza first, so with any
        installed the IQ takes slixmpp's path (none is: no XEP-0198 on a component)."""
        route = self.command_route
        if route is not None and not self._XMLStream__filters["in"]:  # type: ignore[attr-defined]
            xml = self.incoming_filter(xml)  # type: ignore[no-untyped-call]
            if xml.tag == self._iq_tag and xml.get("type") == "set" and xml.find(COMMAND_TAG) is not None:
                route(xml)
                return
        super()._spawn_event(xml)

    def routed_stanza(self, xml: Element) -> StanzaBase:
        """The slixmpp stanza object of a routed IQ (for what needs one: error replies, the
        contact commands' starters)."""
        return self._build_stanza(xml)

    # --- writing: one ordered path to the socket (see outbox.py) -------------------------------

    def connection_made(self, transport: Any, send_event: bool = True) -> None:
        self.outbox.attach(transport)  # before slixmpp writes the stream header through it
        super().connection_made(transport, send_event)

    def connection_lost(self, exception: BaseException | None) -> None:
        self.outbox.attach(None)
        super().connection_lost(exception)

    def pause_writing(self) -> None:
        self.outbox.pause()

    def resume_writing(self) -> None:
        self.outbox.resume()

    def send_raw(self, data: str | bytes) -> None:
        """slixmpp: every write goes through the outbox, which keeps the transport's buffer small
        and holds the rest in order."""
        if not self.transport:
            raise NotConnectedError()
        if _wire_log.isEnabledFor(logging.DEBUG):
            _wire_log.debug("SEND: %s", data)
        self.outbox.write(data.encode() if isinstance(data, str) else data)

    def unsent(self) -> int:
        """Bytes written to the stream that the kernel has not taken yet."""
        return self.outbox.unsent()

    def send(self, data: Any, use_filters: bool = True) -> None:
        """slixmpp: text (stanzas already serialised, such as the publisher's batches) is written
        to the socket at once when nothing waits in slixmpp's send queue, instead of going
        through the queue: one task switch and queue round trip less per batch, paid at every
        Wazo event during a fan-out. Order is kept: slixmpp's sender writes each stanza in the
        step that takes it off the queue (its only outgoing filter is synchronous), so an empty
        queue means that everything sent before is written."""
        if (
            isinstance(data, str)
            and self._session_started
            and self.transport is not None
            and not self.waiting_queue.qsize()
        ):
            self.send_raw(data)
            return
        super().send(data, use_filters)

    def _announce_identity(self, _event: Any) -> None:
        disco = self.plugin["xep_0030"]
        category, kind, name = IDENTITY
        # slixmpp: identities and features live in per-JID node data that session binding resets,
        # so they are declared again on every (re)connect.
        disco.add_identity(category=category, itype=kind, name=name, jid=self.boundjid)
        disco.add_feature(NS_PHONEPRESENCE, jid=self.boundjid)
