"""The LDAP filter built from a query (pure): accented spellings of each token, escaped."""

from __future__ import annotations

from presence.directory.ldap_query import SPELLING_BUDGET, search_filter, spellings

PEOPLE = "(objectClass=inetOrgPerson)"


def test_a_token_is_sent_with_its_accented_spellings_within_the_budget() -> None:
    assert {"mul", "mül", "mûl", "muł"} <= set(spellings("mul"))
    assert {"zo", "zö", "žo"} <= set(spellings("zo"))
    assert spellings("Müller")[0] == "Müller"  # as typed first, then the folded prefix's spellings
    assert {"mull", "müll"} <= set(spellings("muller"))
    for word in ("eloise", "zoe", "muller", "aaaaaaaa", "o'neil"):
        assert len(spellings(word)) <= SPELLING_BUDGET + 1, word
    assert spellings("aaaa")[1:] == spellings("aa")  # 8 x 8 = 64 spellings: "aa", not more


def test_each_spelling_is_a_prefix_assertion_in_every_name_attribute_and_escaped() -> None:
    ldap_filter = search_filter("mül", PEOPLE, ("cn", "sn"), ("telephoneNumber",))
    assert ldap_filter is not None
    assert {"(sn=mül*)", "(cn=mul*)", "(sn=mùł*)"} <= set(ldap_filter.replace(")(", ")\n(").split("\n"))
    assert "~=" not in ldap_filter
    attack = search_filter("a*)(uid=", PEOPLE, ("cn",), ("telephoneNumber",))
    assert attack is not None
    assert "(cn=a\\2a\\29\\28uid=*)" in attack
    assert ")(uid=" not in attack.replace("\\29\\28uid=", "")
