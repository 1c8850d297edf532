"""vcard-temp (XEP-0054) on phone JIDs: ``alice@phone.example.org`` answers with the colleague's
name and numbers, so chat clients show them on the contact card.

Only people allowed to see that phone JID's presence get the card (the same privacy rules);
anyone else, and an unknown phone JID, get item-not-found, so the card cannot tell who exists.
The numbers are those of the directory: each line's extension, and the mobile when
``directory.wazo_mobiles`` allows it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree as ET

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from presence.directory import NumberKind
from presence.directory.wazo_users import entries_of
from presence.identity import People
from presence.sources.wazo.confd import WazoUser

log = logging.getLogger(__name__)

NS = "vcard-temp"
_TEL_TYPES = {
    NumberKind.EXTENSION: ("WORK", "VOICE"),
    NumberKind.WORK: ("WORK", "VOICE"),
    NumberKind.MOBILE: ("CELL", "VOICE"),
    NumberKind.HOME: ("HOME", "VOICE"),
    NumberKind.OTHER: ("VOICE",),
}


def vcard_element(user: WazoUser, mobiles: bool) -> ET.Element:
    card = ET.Element(f"{{{NS}}}vCard")
    ET.SubElement(card, f"{{{NS}}}FN").text = user.display_name or user.username
    n = ET.SubElement(card, f"{{{NS}}}N")
    ET.SubElement(n, f"{{{NS}}}FAMILY").text = user.lastname
    ET.SubElement(n, f"{{{NS}}}GIVEN").text = user.firstname
    for entry in entries_of(user, mobiles):
        tel = ET.SubElement(card, f"{{{NS}}}TEL")
        for kind in _TEL_TYPES[entry.kind]:
            ET.SubElement(tel, f"{{{NS}}}{kind}")
        ET.SubElement(tel, f"{{{NS}}}NUMBER").text = entry.number
    return card


class PhoneVCards:
    def __init__(
        self,
        xmpp: Any,
        people: Callable[[], People],
        pbx_user: Callable[[str], WazoUser | None],
        may_see: Callable[[str, str], bool],
        mobiles: bool,
    ) -> None:
        self._xmpp = xmpp
        self._people = people
        self._pbx_user = pbx_user
        self._may_see = may_see
        self._mobiles = mobiles
        # slixmpp: the xep_0054 plugin answers from its own per-JID store; the cards here are
        # built on demand from the current users, so a plain handler on the IQ is simpler.
        xmpp.register_handler(
            Callback(
                "phone vcard-temp",
                MatchXPath(f"{{{xmpp.default_ns}}}iq/{{{NS}}}vCard"),
                self._on_iq,
            )
        )

    def _on_iq(self, iq: Any) -> None:
        if iq["type"] not in ("get", "set"):
            return  # results and errors: nothing to answer
        if iq["type"] == "set":
            self._error(iq, "not-allowed")  # the card is the PBX's, nobody writes it here
            return
        owner = iq["to"].user.lower()
        requester = iq["from"].bare.lower()
        person = self._people().by_localpart.get(owner) if owner else None
        user = self._pbx_user(person.wazo_uuid) if person is not None else None
        if person is None or user is None or not self._may_see(owner, requester):
            self._error(iq, "item-not-found")
            return
        reply = iq.reply(clear=True)
        reply.append(vcard_element(user, self._mobiles))
        reply.send()

    @staticmethod
    def _error(iq: Any, condition: str) -> None:
        reply = iq.reply(clear=True)
        reply["error"]["condition"] = condition
        reply["error"]["type"] = "cancel"
        reply.send()
