"""Identity mapping (chat JID <-> Wazo user) and the privacy rule."""

from __future__ import annotations

from presence.identity import MatchRule, PbxUser, build_people
from presence.privacy import OwnerPrivacy, PrivacyPolicy, may_see, outside_policy, refused

ALICE = PbxUser("uuid-a", email="Alice@Example.org", username="alice", display_name="Alice A")
BOB = PbxUser("uuid-b", email="bob@other.org", username="bob")
CAROL = PbxUser("uuid-c", email="", username="carol")


def test_email_rule_maps_users_whose_email_is_in_a_chat_domain() -> None:
    people, problems = build_people([ALICE, BOB, CAROL], MatchRule.EMAIL, ["example.org"])
    assert set(people.by_chat_jid) == {"alice@example.org"}
    alice = people.by_uuid["uuid-a"]
    assert (alice.chat_jid, alice.localpart, alice.display_name) == ("alice@example.org", "alice", "Alice A")
    assert people.by_localpart["alice"] is alice
    assert {p.wazo_uuid for p in problems} == {"uuid-b", "uuid-c"}
    assert all("no chat JID by email" in p.reason for p in problems)


def test_username_rule_uses_the_first_chat_domain() -> None:
    people, problems = build_people([ALICE, BOB, CAROL], MatchRule.USERNAME, ["example.org", "example.net"])
    assert set(people.by_chat_jid) == {"alice@example.org", "bob@example.org", "carol@example.org"}
    assert problems == []


def test_override_wins_and_a_duplicate_is_reported_not_mapped_twice() -> None:
    dup = PbxUser("uuid-d", email="alice@example.org")
    people, problems = build_people(
        [ALICE, BOB, dup], MatchRule.EMAIL, ["example.org"], overrides={"robert@example.org": "bob"}
    )
    assert people.by_uuid["uuid-b"].chat_jid == "robert@example.org"
    assert people.by_chat_jid["alice@example.org"].wazo_uuid == "uuid-a"
    assert "uuid-d" not in people.by_uuid
    assert any(p.wazo_uuid == "uuid-d" and "already mapped" in p.reason for p in problems)


def test_override_to_an_unknown_wazo_user_is_reported() -> None:
    _, problems = build_people(
        [ALICE], MatchRule.EMAIL, ["example.org"], overrides={"x@example.org": "nobody"}
    )
    assert [p.reason for p in problems] == ["override x@example.org -> nobody: no such Wazo user"]


POLICY = PrivacyPolicy(
    local_domains=frozenset({"example.org"}),
    allowed_remote_domains=frozenset({"partner.net"}),
    allowed_remote_jids=frozenset({"friend@elsewhere.com"}),
)


def test_same_domain_and_listed_remotes_may_see_strangers_may_not() -> None:
    anyone = OwnerPrivacy()
    assert may_see(POLICY, "bob@example.org", "alice@example.org", anyone)
    assert may_see(POLICY, "x@partner.net", "alice@example.org", anyone)
    assert may_see(POLICY, "friend@elsewhere.com", "alice@example.org", anyone)
    assert not may_see(POLICY, "stranger@elsewhere.com", "alice@example.org", anyone)


def test_a_hidden_owner_is_visible_only_to_the_list_and_herself() -> None:
    hidden = OwnerPrivacy(hidden=True, visible_to=frozenset({"carol@example.org"}))
    assert may_see(POLICY, "carol@example.org", "alice@example.org", hidden)
    assert may_see(POLICY, "alice@example.org", "alice@example.org", hidden)
    assert not may_see(POLICY, "bob@example.org", "alice@example.org", hidden)


def test_an_only_list_cannot_grant_what_the_company_does_not_allow() -> None:
    listed = OwnerPrivacy(
        hidden=True,
        visible_to=frozenset(
            {"carol@example.org", "x@partner.net", "friend@elsewhere.com", "stranger@elsewhere.com"}
        ),
    )
    assert may_see(POLICY, "carol@example.org", "alice@example.org", listed)
    assert may_see(POLICY, "x@partner.net", "alice@example.org", listed)
    assert may_see(POLICY, "friend@elsewhere.com", "alice@example.org", listed)
    # Listed by alice, but the admin allows neither elsewhere.com nor that JID: still refused.
    assert not may_see(POLICY, "stranger@elsewhere.com", "alice@example.org", listed)


def test_outside_policy_names_the_entries_the_company_does_not_allow() -> None:
    jids = frozenset({"carol@example.org", "x@partner.net", "stranger@elsewhere.com", "friend@elsewhere.com"})
    assert outside_policy(POLICY, jids) == ["stranger@elsewhere.com"]
    assert outside_policy(POLICY, frozenset()) == []


def test_refused_decides_as_may_see_for_every_subscriber_and_owner_choice() -> None:
    subscribers = [
        "alice@example.org",
        "bob@example.org",
        "carol@example.org",
        "x@partner.net",
        "friend@elsewhere.com",
        "stranger@elsewhere.com",
    ]
    choices = [
        OwnerPrivacy(),
        OwnerPrivacy(hidden=True),
        OwnerPrivacy(hidden=True, visible_to=frozenset({"carol@example.org", "stranger@elsewhere.com"})),
    ]
    company: dict[str, bool] = {}  # shared across owners, as enforcement does
    for owner in choices:
        expected = [s for s in subscribers if not may_see(POLICY, s, "alice@example.org", owner)]
        assert refused(POLICY, "alice@example.org", owner, subscribers, company) == expected
    assert refused(POLICY, "alice@example.org", OwnerPrivacy(), [], company) == []
