"""vCard 3.0 and 4.0 (RFC 2426, RFC 6350) to the contact the directory needs, with ``vobject``.
Pure, no I/O. A card that cannot be read raises :class:`VCardError` with the reason (the caller
logs it with the card's href and skips it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import vobject

from presence.directory.model import NumberKind

MAX_CARD_BYTES = 256 * 1024  # a photo-sized card is not a contact we need; refuse, do not parse


class VCardError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    numbers: tuple[tuple[str, NumberKind], ...]
    organisation: str = ""
    emails: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "numbers": [[n, k.value] for n, k in self.numbers],
                "org": self.organisation,
                "emails": list(self.emails),
            },
            ensure_ascii=False,
        )

    @staticmethod
    def from_json(text: str) -> Contact:
        data = json.loads(text)
        return Contact(
            str(data["name"]),
            tuple((str(n), NumberKind(k)) for n, k in data["numbers"]),
            str(data.get("org", "")),
            tuple(str(e) for e in data.get("emails", ())),
        )


def _types(prop: Any) -> set[str]:
    found: set[str] = set()
    for value in prop.params.get("TYPE", []):
        found |= {t.strip().strip('"').lower() for t in str(value).split(",")}
    return found


def _kind(types: set[str]) -> NumberKind:
    if "cell" in types:
        return NumberKind.MOBILE
    if "home" in types:
        return NumberKind.HOME
    if "work" in types:
        return NumberKind.WORK
    return NumberKind.OTHER


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value if v).strip()
    return str(value).strip()


def _name(card: Any) -> str:
    fn = getattr(card, "fn", None)
    if fn is not None and _text(fn.value):
        return _text(fn.value)
    n = getattr(card, "n", None)
    if n is not None:
        parts = [_text(n.value.prefix), _text(n.value.given), _text(n.value.additional)]
        parts += [_text(n.value.family), _text(n.value.suffix)]
        name = " ".join(p for p in parts if p)
        if name:
            return name
    org = getattr(card, "org", None)
    return _text(org.value) if org is not None else ""


def parse_vcard(text: str) -> Contact:
    """The contact in ``text`` (one vCard); numbers with their kind (cell, home, work)."""
    if len(text.encode("utf-8", "replace")) > MAX_CARD_BYTES:
        raise VCardError(f"card larger than {MAX_CARD_BYTES} bytes")
    try:
        card = vobject.readOne(text)
    except Exception as error:  # vobject raises many types (ParseError, ValueError, ...)
        raise VCardError(f"not a vCard: {type(error).__name__}: {str(error)[:100]}") from None
    if getattr(card, "name", "").upper() != "VCARD":
        raise VCardError(f"not a vCard but a {getattr(card, 'name', '?')}")
    name = _name(card)
    if not name:
        raise VCardError("no FN, N or ORG: the contact has no name")
    numbers = []
    for prop in card.contents.get("tel", []):
        number = _text(prop.value)
        if number.lower().startswith("tel:"):  # vCard 4 VALUE=uri
            number = number[4:].split(";", 1)[0]
        if any(c.isdigit() for c in number):
            numbers.append((number, _kind(_types(prop))))
    org = card.contents.get("org", [])
    organisation = _text(org[0].value) if org else ""
    emails = tuple(_text(p.value) for p in card.contents.get("email", []) if _text(p.value))
    return Contact(name, tuple(numbers), organisation, emails)
