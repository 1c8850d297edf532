"""The LDAP source against a real slapd with 1,000+ people: name and number search, accents,
injection attempts, and a stalled server (SIGSTOP)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from devservers.slapd import PEOPLE_DN, SlapdServer
from presence.directory import DirectoryUnavailable, NumberKind
from presence.directory.ranking import fold
from presence.sources.ldap_directory import LdapDirectory, LdapSettings
from presence.sources.wazo.config import Secret

pytestmark = pytest.mark.server


def settings(slapd: SlapdServer, **overrides: object) -> LdapSettings:
    values: dict[str, object] = {
        "uris": (slapd.uri,),
        "base_dn": PEOPLE_DN,
        "bind_dn": slapd.reader_dn,
        "password": Secret(slapd.reader_password),
        "flavour": "openldap",
        "phone_attributes": ("telephoneNumber", "mobile", "ipPhone", "otherTelephone"),
        "name_attributes": ("displayName", "givenName", "sn"),
        "timeout": 2.0,
    }
    values.update(overrides)
    return LdapSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def ldap(slapd: SlapdServer) -> Iterator[LdapDirectory]:
    directory = LdapDirectory(settings(slapd))
    yield directory
    directory.close()


async def test_a_name_finds_each_number_with_its_kind(ldap: LdapDirectory) -> None:
    found = await ldap.search("marie curie")
    assert {(e.name, e.number, e.kind, e.source) for e in found} == {
        ("Marie Curie", "+33 1 55 50 01 02", NumberKind.WORK, "ldap"),
        ("Marie Curie", "+33 6 55 50 01 02", NumberKind.MOBILE, "ldap"),
    }
    found = await ldap.search("carp")  # a prefix of the surname
    assert {(e.name, e.number, e.kind) for e in found} == {
        ("Robert Carpenter", "+44 20 5550 0103", NumberKind.WORK),
        ("Robert Carpenter", "2103", NumberKind.EXTENSION),
    }


async def test_accents_and_case_do_not_matter(ldap: LdapDirectory) -> None:
    for query in ("zoe muller", "ZOË MÜLLER", "Zoe Müller", "eloise durand", "ÉLOÏSE Durand"):
        names = {e.name for e in await ldap.search(query)}
        assert names, query
        assert all(name in ("Zoë Müller", "Éloïse Durand") for name in names), (query, names)
    assert "Zoë Müller" in {e.name for e in await ldap.search("zoe muller")}
    assert "Éloïse Durand" in {e.name for e in await ldap.search("eloise durand")}
    eloises = {e.name for e in await ldap.search("eloise")}  # the crowd has many; all are Éloïse
    assert len(eloises) > 1
    assert all(name.startswith("Éloïse ") for name in eloises)


@pytest.mark.parametrize(
    ("prefix", "word"),
    [
        ("mul", "Müller"),
        ("zo", "Zoë"),
        ("MÜL", "Müller"),
        ("elo", "Éloïse"),
        ("sor", "Søren"),
        ("luk", "Łukasz"),
    ],
)
async def test_a_plain_prefix_finds_accented_names(ldap: LdapDirectory, prefix: str, word: str) -> None:
    # slapd compares case-insensitively but keeps accents: the source asks for the accented
    # spellings of the prefix and re-checks what comes back
    found = await ldap.search(prefix)
    names = {e.name for e in found}
    assert any(word in name.split() for name in names), (prefix, names)
    folded = fold(prefix)
    assert all(any(fold(w).startswith(folded) for w in name.split()) for name in names), names


async def test_digits_find_numbers(ldap: LdapDirectory) -> None:
    found = await ldap.search("5550100")
    assert {e.name for e in found} == {"Zoë Müller"}


async def test_the_size_limit_bounds_a_broad_search(slapd: SlapdServer) -> None:
    directory = LdapDirectory(settings(slapd, size_limit=7, page_size=3))
    try:
        found = await directory.search("muller")
        people = {e.name for e in found}
        assert 1 <= len(people) <= 7
    finally:
        directory.close()


@pytest.mark.parametrize(
    "attack",
    ["*", ")(uid=*", "*)(|(objectClass=*", "\\", "\\2a", "zoe\x00", "\x00", "a" * 10_000, "(", "*)"],
)
async def test_injection_attempts_find_nothing_and_raise_nothing(ldap: LdapDirectory, attack: str) -> None:
    assert await ldap.search(attack) == []
    assert await ldap.search(f"zoe {attack}") == []


async def test_a_stalled_server_is_unavailable_within_the_timeout(slapd: SlapdServer) -> None:
    directory = LdapDirectory(settings(slapd, timeout=1.0))
    try:
        assert await directory.search("curie")  # a pooled, bound connection
        slapd.pause()
        try:
            started = time.monotonic()
            with pytest.raises(DirectoryUnavailable, match="no answer within 1 s"):
                await directory.search("curie")
            assert time.monotonic() - started < 10  # bounded, not hung (generous for a loaded CI)
        finally:
            slapd.resume()
        # once the server answers again, so does the source (a broken connection is replaced)
        for _ in range(50):
            try:
                if await directory.search("curie"):
                    break
            except DirectoryUnavailable:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("the LDAP source did not recover after SIGCONT")
    finally:
        directory.close()
