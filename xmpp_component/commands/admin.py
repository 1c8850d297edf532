"""The administrators' commands (XEP-0050 nodes in the spirit of XEP-0133, and chat text):
"Status", "Explain user", "Resync now", "Unmatched users" and "Reload configuration".

Access is :attr:`Access.ADMIN`: only ``component.admins`` see them listed; anyone else executing a
node gets ``forbidden`` (checked centrally in the adapters). What they read and do is
:class:`xmpp_component.admin_ops.AdminOps`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xmpp_component.commands.base import (
    Access,
    Command,
    CommandError,
    Done,
    Field,
    FieldError,
    Form,
    Reply,
    Requester,
    Values,
)
from xmpp_component.commands.services import CommandServices

if TYPE_CHECKING:
    from xmpp_component.admin_ops import AdminOps


def _table(rows: list[tuple[str, str]]) -> str:
    return "\n".join(f"{label}: {value}" for label, value in rows)


class _AdminCommand(Command):
    ACCESS = Access.ADMIN

    def ops(self) -> AdminOps:
        if self.services.admin is None:
            raise CommandError("the administration functions are not available in this process")
        return self.services.admin


class StatusCommand(_AdminCommand):
    NAME = "Status"
    NODE = "admin-status"
    CHAT_COMMAND = "status"
    CHAT_USAGE = "status   (admin) the service's state: links, users, subscriptions"

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        return Done(_table(self.ops().status_lines()))


class ExplainUserCommand(_AdminCommand):
    NAME = "Explain user"
    NODE = "admin-explain-user"
    CHAT_COMMAND = "explain"
    CHAT_USAGE = "explain <chat address>   (admin) one user's lines, calls, chat and published presence"
    PREFILL = "user"

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        async def explain(values: Values) -> Reply:
            who = values.get("user", "").strip()
            if not who:
                raise FieldError("user", "give a chat address, a phone JID or a Wazo user uuid")
            rows = self.ops().explain(who)
            if rows is None:
                raise FieldError("user", f"no provisioned user {who} (see Unmatched users)")
            return Done(_table(rows))

        form = Form(
            "Explain user",
            [Field("user", "User (chat address, phone JID or Wazo uuid)", required=True)],
            explain,
            final=True,
        )
        if prefill.get("user"):
            try:
                return await explain(prefill)
            except FieldError as error:
                return Form(form.title, form.fields, explain, final=True, notes=[("error", error.message)])
        return form


class ResyncCommand(_AdminCommand):
    NAME = "Resync now"
    NODE = "admin-resync"
    CHAT_COMMAND = "resync"
    CHAT_USAGE = "resync   (admin) read users, phone states and calls from Wazo again now"

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        return Done(await self.ops().resync())


class UnmatchedCommand(_AdminCommand):
    NAME = "Unmatched users"
    NODE = "admin-unmatched"
    CHAT_COMMAND = "unmatched"
    CHAT_USAGE = "unmatched   (admin) Wazo users without a phone JID, and why"

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        rows = self.ops().unmatched_lines()
        if not rows:
            return Done("Every Wazo user has a phone JID.")
        return Done(f"{len(rows)} Wazo users have no phone JID:\n" + _table(rows))


class ReloadCommand(_AdminCommand):
    NAME = "Reload configuration"
    NODE = "admin-reload"
    CHAT_COMMAND = "reload"
    CHAT_USAGE = "reload   (admin) read the configuration file again (same as SIGHUP)"

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        result = self.ops().reload()
        return Done(result.describe(), level="error" if result.error else "info")


def admin_commands(services: CommandServices) -> list[Command]:
    return [
        StatusCommand(services),
        ExplainUserCommand(services),
        ResyncCommand(services),
        UnmatchedCommand(services),
        ReloadCommand(services),
    ]
