"""What a user typed to call someone: an extension, a phone number or a name. Pure, no I/O.

Numbers are normalised to E.164 with the ``phonenumbers`` library given a default region
(``01 23 45 67 89`` in "FR" is ``+33123456789``); short all-digit strings are PBX extensions and
pass through unchanged. Anything that starts like a name is a directory query. Every refusal is a
:class:`DialInputError` whose message says precisely what is wrong, for a form note or a chat reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

MAX_INPUT_LENGTH = 64
MIN_NAME_LENGTH = 2
DEFAULT_EXTENSION_MAX_DIGITS = 6
_SEPARATORS = frozenset(" -.()/\u00a0")
_DIALABLE = frozenset("0123456789+*#") | _SEPARATORS


class DialInputError(ValueError):
    """The input cannot be dialled or searched; ``str(error)`` is the reason, for a person."""


class TargetKind(StrEnum):
    EXTENSION = "extension"  # dialled as typed (digits, * and #)
    NUMBER = "number"  # a public phone number, dialled in E.164


@dataclass(frozen=True, slots=True)
class DialTarget:
    """Something the PBX can dial: ``dial`` goes to calld, ``display`` is shown to people."""

    dial: str
    display: str
    kind: TargetKind


@dataclass(frozen=True, slots=True)
class NameQuery:
    """A name (or part of one) to look up in the directory."""

    text: str


def _check_length(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise DialInputError("is empty: type a number, an extension or a name")
    if len(text) > MAX_INPUT_LENGTH:
        raise DialInputError(f"is too long ({len(text)} characters, at most {MAX_INPUT_LENGTH})")
    return text


def looks_like_number(text: str) -> bool:
    """A number starts with a digit, ``+``, ``*``, ``#`` or ``(``; a name starts with anything else."""
    stripped = text.strip()
    return bool(stripped) and stripped[0] in "0123456789+*#("


def parse_number(
    text: str, default_region: str, extension_max_digits: int = DEFAULT_EXTENSION_MAX_DIGITS
) -> DialTarget:
    """An extension (digits, ``*``, ``#``, at most ``extension_max_digits`` digits, no ``+``) or a
    phone number normalised to E.164."""
    text = _check_length(text)
    letters = sorted({c for c in text if c.isalpha()})
    if letters:
        shown = "".join(letters[:5])
        raise DialInputError(f"contains letters ({shown}): a number may only hold digits, spaces, + - . ( )")
    bad = sorted({c for c in text if c not in _DIALABLE})
    if bad:
        raise DialInputError(
            f"contains {''.join(bad)!r}: a number may only hold digits, spaces, + - . ( ), * and #"
        )
    compact = "".join(c for c in text if c not in _SEPARATORS)
    if "+" in compact[1:]:
        raise DialInputError("has a + that is not at the start")
    digits = sum(c.isdigit() for c in compact)
    if digits == 0:
        raise DialInputError("has no digits")
    if not compact.startswith("+") and digits <= extension_max_digits:
        return DialTarget(dial=compact, display=compact, kind=TargetKind.EXTENSION)
    if "*" in compact or "#" in compact:
        raise DialInputError("mixes * or # into a phone number (only extensions may hold them)")
    try:
        parsed = phonenumbers.parse(compact, default_region)
    except phonenumbers.NumberParseException:
        raise DialInputError(
            f"is not a phone number (read with the default region {default_region})"
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        where = phonenumbers.region_code_for_number(parsed) or default_region
        raise DialInputError(f"is not a valid phone number for region {where}")
    return DialTarget(
        dial=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        display=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        kind=TargetKind.NUMBER,
    )


def parse_dial_input(
    text: str, default_region: str, extension_max_digits: int = DEFAULT_EXTENSION_MAX_DIGITS
) -> DialTarget | NameQuery:
    """What a "Call" field or ``call ...`` text means: a dial target or a directory query."""
    text = _check_length(text)
    if looks_like_number(text):
        return parse_number(text, default_region, extension_max_digits)
    if len(text) < MIN_NAME_LENGTH:
        raise DialInputError(f"is too short to search by name (at least {MIN_NAME_LENGTH} characters)")
    if any(not (c.isalnum() or c in " -'.@_") for c in text):
        bad = "".join(sorted({c for c in text if not (c.isalnum() or c in " -'.@_")}))
        raise DialInputError(f"contains {bad!r}: a name may hold letters, digits, spaces and - ' . @ _")
    return NameQuery(text)


def display_number(
    number: str, default_region: str, extension_max_digits: int = DEFAULT_EXTENSION_MAX_DIGITS
) -> str:
    """How to show a number from the PBX or a directory; unchanged when it cannot be read."""
    try:
        return parse_number(number, default_region, extension_max_digits).display
    except DialInputError:
        return number


class DialFormat(StrEnum):
    """How public numbers are handed to the PBX, to match the outgoing routes of its context."""

    E164 = "e164"  # +33123456789
    E164_NO_PLUS = "e164_no_plus"  # 33123456789
    NATIONAL = "national"  # 0123456789 at home, 00442079460958 abroad (from region FR)


@dataclass(frozen=True, slots=True)
class DialPlan:
    """The PBX's dialling habits: ``outgoing_prefix`` (e.g. "0" for an outside line) goes first."""

    format: DialFormat = DialFormat.E164
    region: str = "FR"
    outgoing_prefix: str = ""

    def pbx_number(self, target: DialTarget) -> str:
        """What calld is asked to dial for ``target``; extensions are always dialled as typed."""
        if target.kind is TargetKind.EXTENSION:
            return target.dial
        if self.format is DialFormat.E164:
            return self.outgoing_prefix + target.dial
        if self.format is DialFormat.E164_NO_PLUS:
            return self.outgoing_prefix + target.dial.lstrip("+")
        parsed = phonenumbers.parse(target.dial)
        # National format at home, the region's international access code (00, 011...) abroad.
        written = phonenumbers.format_out_of_country_calling_number(parsed, self.region)
        return self.outgoing_prefix + "".join(c for c in written if c.isdigit())
