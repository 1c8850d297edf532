"""Who may see a user's phone presence: a pure decision, made on every subscribe and probe."""

from __future__ import annotations

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


def may_see(policy: PrivacyPolicy, subscriber: str, owner_chat_jid: str, owner: OwnerPrivacy) -> bool:
    """True when ``subscriber`` (a bare JID, lower case) may see ``owner_chat_jid``'s phone presence."""
    if subscriber == owner_chat_jid:
        return True
    if owner.hidden:
        return subscriber in owner.visible_to
    if domain_of(subscriber) in policy.local_domains:
        return True
    return subscriber in policy.allowed_remote_jids or domain_of(subscriber) in policy.allowed_remote_domains
