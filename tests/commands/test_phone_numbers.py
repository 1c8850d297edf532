"""Pure parsing of what a user types to call: extensions, numbers, names, and every refusal."""

from __future__ import annotations

import pytest

from presence.phone_numbers import (
    DialInputError,
    DialTarget,
    NameQuery,
    TargetKind,
    display_number,
    parse_dial_input,
    parse_number,
)


@pytest.mark.parametrize(
    ("text", "dial", "kind"),
    [
        ("1002", "1002", TargetKind.EXTENSION),
        (" 10 02 ", "1002", TargetKind.EXTENSION),
        ("*25", "*25", TargetKind.EXTENSION),
        ("+33 1 23 45 67 89", "+33123456789", TargetKind.NUMBER),
        ("01 23 45 67 89", "+33123456789", TargetKind.NUMBER),
        ("01.23.45.67.89", "+33123456789", TargetKind.NUMBER),
        ("(06) 12-34-56-78", "+33612345678", TargetKind.NUMBER),
        ("+1 202 555 0143", "+12025550143", TargetKind.NUMBER),
    ],
)
def test_numbers_and_extensions(text: str, dial: str, kind: TargetKind) -> None:
    target = parse_dial_input(text, "FR")
    assert isinstance(target, DialTarget)
    assert (target.dial, target.kind) == (dial, kind)


def test_the_default_region_reads_national_numbers() -> None:
    assert parse_number("020 7946 0018", "GB").dial == "+442079460018"
    assert parse_number("01 23 45 67 89", "FR").display == "+33 1 23 45 67 89"


def test_extension_length_is_configurable() -> None:
    assert parse_number("1234567", "FR", extension_max_digits=8).kind is TargetKind.EXTENSION
    with pytest.raises(DialInputError, match="not a valid phone number"):
        parse_number("1234567", "FR", extension_max_digits=6)


@pytest.mark.parametrize("text", ["bob", "Bob Brown", "élodie", "o'neil", "bob.martin@example.test"])
def test_names_are_queries(text: str) -> None:
    assert parse_dial_input(text, "FR") == NameQuery(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("1" * 65, "is too long (65 characters, at most 64)"),
        ("+33 1 23 AB 67 89", "contains letters (AB)"),
        ("01 23 45 67 8x", "contains letters (x)"),
        ("1002!", "contains '!'"),
        ("12+34", "has a + that is not at the start"),
        ("+", "has no digits"),
        ("+33 12 34 56", "is not a valid phone number for region FR"),
        ("+999 123 456", "is not a phone number"),
        ("0612*45678", "mixes * or #"),
        ("b", "is too short to search by name"),
        ("bob; drop", "contains ';'"),
    ],
)
def test_refusals_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(DialInputError) as caught:
        parse_dial_input(text, "FR")
    assert reason in str(caught.value)


def test_display_keeps_what_it_cannot_read() -> None:
    assert display_number("+33612345678", "FR") == "+33 6 12 34 56 78"
    assert display_number("anonymous", "FR") == "anonymous"
