""" "Confirm revocations" (admins only): apply a mass revocation the brake held back.

When applying the privacy rules would drop too many subscriptions at once (see
:mod:`presence.revocation`), nothing is dropped and an error is logged; an administrator who
knows the change is intended runs this command. Chat: ``confirm revocations`` (typing it is the
confirmation); XEP-0050: a form showing what would be dropped, then "complete".
"""

from __future__ import annotations

from typing import Protocol

from presence.revocation import RevocationPlan
from xmpp_component.commands.base import Access, Command, Done, Field, Form, Reply, Requester, Values


class Revocations(Protocol):
    """What the command needs from the phone-JID service."""

    @property
    def pending_revocation(self) -> RevocationPlan | None: ...

    async def confirm_revocation(self) -> int: ...


class ConfirmRevocationsCommand(Command):
    NAME = "Confirm revocations"
    NODE = "confirm-revocations"
    CHAT_COMMAND = "confirm revocations"
    CHAT_USAGE = "confirm revocations   (admin) drop the subscriptions the brake held back"
    ACCESS = Access.ADMIN

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        revocations = self.services.revocations
        pending = revocations.pending_revocation if revocations is not None else None
        if revocations is None or pending is None:
            return Done("No revocation is waiting for confirmation.")

        async def confirmed(_values: Values) -> Reply:
            dropped = await revocations.confirm_revocation()
            what = "1 subscription" if dropped == 1 else f"{dropped} subscriptions"
            return Done(f"Dropped {what}; each watcher was told 'unsubscribed'.")

        return Form(
            "Confirm revocations",
            [Field("summary", "Held back", kind="fixed", value=pending.describe() + ".")],
            confirmed,
            instructions=(
                "The privacy rules now refuse these watchers. Drop them (they are told "
                "'unsubscribed' and must ask again)? If the configuration is wrong, cancel, fix it "
                "and restart instead."
            ),
            final=True,
            confirmation=True,
        )
