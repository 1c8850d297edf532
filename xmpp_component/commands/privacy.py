""" "Phone privacy": who may see my phone state. Everyone the company's rules allow, or only a list.

Chat: ``privacy`` shows the setting; ``privacy everyone``; ``privacy only bob@example.org carol@…``.
Watchers no longer allowed are dropped at once (and told ``unsubscribed``). A list narrows the
company's rule, never widens it: an address the administrator did not allow is refused with a
note naming it, and nothing is changed.
"""

from __future__ import annotations

from slixmpp.jid import JID, InvalidJID

from presence.privacy import OwnerPrivacy, outside_policy
from xmpp_component.commands.base import (
    Command,
    Done,
    Field,
    FieldError,
    Form,
    Option,
    Reply,
    Requester,
    Values,
    describe,
)

MAX_LISTED = 100
VISIBILITY = "visibility"
VISIBLE_TO = "visible_to"
_CHOICES = (
    Option("everyone", "Everyone the company's rules allow (colleagues by default)"),
    Option("only", "Only the people listed below"),
)


def parse_jids(text: str) -> frozenset[str]:
    """Bare JIDs separated by spaces or commas; :class:`FieldError` names the first bad one."""
    jids: set[str] = set()
    for word in text.replace(",", " ").split():
        try:
            jid = JID(word)
        except InvalidJID:
            raise FieldError(
                VISIBLE_TO, f"{describe(word)} is not an address such as bob@example.org"
            ) from None
        if not jid.user or jid.resource:
            raise FieldError(VISIBLE_TO, f"{describe(word)} is not an address such as bob@example.org")
        jids.add(str(jid.bare).lower())
    if len(jids) > MAX_LISTED:
        raise FieldError(VISIBLE_TO, f"at most {MAX_LISTED} addresses")
    return frozenset(jids)


def summary(privacy: OwnerPrivacy) -> str:
    if not privacy.hidden:
        return "Your phone state is visible to everyone the company's rules allow."
    if not privacy.visible_to:
        return "Your phone state is hidden from everyone."
    return "Your phone state is visible only to: " + ", ".join(sorted(privacy.visible_to)) + "."


class PrivacyCommand(Command):
    NAME = "Phone privacy"
    NODE = "privacy"
    CHAT_COMMAND = "privacy"
    CHAT_USAGE = "privacy [everyone | only <address> …]   who may see your phone state"

    def chat_prefill(self, args: str) -> dict[str, str]:
        words = args.split(maxsplit=1)
        if not words:
            return {}
        return {VISIBILITY: words[0].lower(), VISIBLE_TO: words[1] if len(words) > 1 else ""}

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        assert requester.person is not None  # Access.PHONE_USER
        current = self.services.settings.privacy(requester.person.wazo_uuid)
        if prefill.get(VISIBILITY):
            try:
                return await self._apply(requester, prefill)
            except FieldError as error:
                # Typed in one go (chat text, or a prefilled execute): there is no form to show
                # again, so the answer is the refusal itself.
                return Done(error.message[:1].upper() + error.message[1:] + ".", level="error")

        async def submitted(values: Values) -> Reply:
            return await self._apply(requester, values)

        return Form(
            "Phone privacy",
            [
                Field(
                    VISIBILITY,
                    "Who may see your phone state",
                    kind="list-single",
                    value="only" if current.hidden else "everyone",
                    options=_CHOICES,
                    required=True,
                ),
                Field(
                    VISIBLE_TO,
                    "Addresses (with 'only')",
                    value=" ".join(sorted(current.visible_to)),
                    desc="e.g. bob@example.org carol@example.org",
                ),
            ],
            submitted,
            instructions=summary(current),
            final=True,
        )

    async def _apply(self, requester: Requester, values: Values) -> Reply:
        choice = values.get(VISIBILITY, "").strip().lower()
        if choice not in ("everyone", "only"):
            raise FieldError(VISIBILITY, f"{describe(choice)} is not one of: everyone, only")
        listed = parse_jids(values.get(VISIBLE_TO, ""))
        refused = outside_policy(self.services.policy, listed) if choice == "only" else []
        if refused:
            them = "this address" if len(refused) == 1 else "these addresses"
            raise FieldError(
                VISIBLE_TO,
                f"the company's rules do not let {', '.join(refused)} see phone state, so you cannot "
                f"grant it; remove {them} (nothing was changed)",
            )
        privacy = OwnerPrivacy(
            hidden=choice == "only", visible_to=listed if choice == "only" else frozenset()
        )
        assert requester.person is not None  # Access.PHONE_USER
        await self.services.settings.set_privacy(requester.person.wazo_uuid, requester.jid, privacy)
        return Done(summary(privacy))
