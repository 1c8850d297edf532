"""Who may see a user's phone presence: a pure decision, made on every subscribe and probe.

Two layers, the second bounded by the first: the company's rule (configuration: the user domains,
plus the remote domains and JIDs the administrator allows) and each user's own choice (everyone
the company allows, or only a list). A user's list narrows the company's rule and never widens
it: listing an address the administrator did not allow grants nothing. The "Phone privacy"
command refuses such entries up front (:func:`outside_policy`), and :func:`may_see` still bounds
stored lists, since the administrator may narrow the rule after a user saved theirs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PrivacyPolicy:
    """The deployment's rule (from configuration)."""

    local_domains: frozenset[str]
    allowed_remote_domains: frozenset[str] = frozenset()
    allowed_remote_jids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class OwnerPrivacy:
    """One user's own choice (from their settings): hide from everyone except a list."""

    hidden: bool = False
    visible_to: frozenset[str] = field(default_factory=frozenset)


def domain_of(bare_jid: str) -> str:
    return bare_jid.rsplit("@", 1)[-1]


def company_allows(policy: PrivacyPolicy, subscriber: str) -> bool:
    """True when the company's rule lets ``subscriber`` (a bare JID, lower case) see phone presence."""
    domain = domain_of(subscriber)
    return (
        domain in policy.local_domains
        or domain in policy.allowed_remote_domains
        or subscriber in policy.allowed_remote_jids
    )


def outside_policy(policy: PrivacyPolicy, jids: frozenset[str]) -> list[str]:
    """The entries of a user's list that the company's rule does not allow, sorted."""
    return sorted(jid for jid in jids if not company_allows(policy, jid))


def may_see(policy: PrivacyPolicy, subscriber: str, owner_chat_jid: str, owner: OwnerPrivacy) -> bool:
    """True when ``subscriber`` (a bare JID, lower case) may see ``owner_chat_jid``'s phone presence."""
    if subscriber == owner_chat_jid:
        return True
    if owner.hidden and subscriber not in owner.visible_to:
        return False
    return company_allows(policy, subscriber)


def refused(
    policy: PrivacyPolicy,
    owner_chat_jid: str,
    owner: OwnerPrivacy,
    subscribers: Iterable[str],
    company: dict[str, bool],
) -> list[str]:
    """The ``subscribers`` who may not see ``owner_chat_jid``: :func:`may_see` for many at once.

    ``company`` remembers :func:`company_allows` per subscriber across calls: enforcement checks
    every stored subscription, and each watcher watches many owners, so the company's rule is
    decided once per watcher rather than once per subscription.
    """
    out: list[str] = []
    for subscriber in subscribers:
        if subscriber == owner_chat_jid:
            continue
        if owner.hidden and subscriber not in owner.visible_to:
            out.append(subscriber)
            continue
        allowed = company.get(subscriber)
        if allowed is None:
            allowed = company[subscriber] = company_allows(policy, subscriber)
        if not allowed:
            out.append(subscriber)
    return out
