"""Signed voicemail links: authentic links verify until they expire; any change to the message,
the owner, the expiry or the signature, or another key, makes them worthless."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from presence.voicemail_links import LinkClaim, LinkSigner

KEY = b"0123456789abcdef-test-key"
ALICE = "11111111-1111-4111-8111-111111111111"
BOB = "22222222-2222-4222-8222-222222222222"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def parts(url: str) -> tuple[str, str, str, str]:
    split = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    name = unquote(split.path.rsplit("/", 1)[1])
    assert name.endswith(".wav")
    return name[:-4], query["u"], query["e"], query["s"]


def test_a_link_verifies_until_it_expires() -> None:
    clock = Clock()
    signer = LinkSigner(KEY, 3600, clock)
    url = signer.url("https://phone.example.org/", "1796278467-00000001", ALICE)
    assert url.startswith("https://phone.example.org/voicemail/1796278467-00000001.wav?")
    message, owner, expires, signature = parts(url)
    assert int(expires) == clock.now + 3600
    assert signer.verify(message, owner, expires, signature) == LinkClaim("1796278467-00000001", ALICE)
    clock.now += 3599
    assert signer.verify(message, owner, expires, signature) is not None
    clock.now += 1
    assert signer.verify(message, owner, expires, signature) is None


def test_every_tampering_is_refused() -> None:
    signer = LinkSigner(KEY, 3600, Clock())
    message, owner, expires, signature = parts(signer.url("https://x.test", "1-00000001", ALICE))
    assert signer.verify("1-00000002", owner, expires, signature) is None
    assert signer.verify(message, BOB, expires, signature) is None
    assert signer.verify(message, owner, str(int(expires) + 86400), signature) is None
    assert (
        signer.verify(message, owner, expires, signature[:-1] + ("A" if signature[-1] != "A" else "B"))
        is None
    )
    assert signer.verify(message, owner, expires, "") is None
    assert (
        LinkSigner(b"another-key-0123456789", 3600, Clock()).verify(message, owner, expires, signature)
        is None
    )


@pytest.mark.parametrize(
    ("message", "owner", "expires"),
    [
        ("../etc/passwd", ALICE, "1900000000"),
        ("1-1", "a/b", "1900000000"),
        ("1-1", ALICE, "-5"),
        ("1-1", ALICE, "9" * 40),
    ],
)
def test_malformed_parts_are_refused_without_error(message: str, owner: str, expires: str) -> None:
    assert LinkSigner(KEY, 3600, Clock()).verify(message, owner, expires, "x") is None
