""" "help" in chat: what the requester may do, and how to type it."""

from __future__ import annotations

from xmpp_component.commands.base import Access, Command, Done, Reply, Requester, Values, refusal, visible


class HelpCommand(Command):
    NAME = "Help"
    CHAT_COMMAND = "help"
    CHAT_ALIASES = ("?",)
    CHAT_USAGE = "help   this list"
    ACCESS = Access.LOCAL_USER

    def __init__(self, services, commands: list[Command]) -> None:  # type: ignore[no-untyped-def]
        super().__init__(services)
        self.commands = commands

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        lines = [f"Phone commands for {requester.jid} (type them here, or use the ad-hoc commands menu):"]
        for command in self.commands:
            if command.CHAT_COMMAND and visible(command.ACCESS, requester):
                lines.append(f"  {command.CHAT_USAGE or command.CHAT_COMMAND}")
        lines.append("  cancel   abandons the question I asked")
        blocked = refusal(Access.PHONE_USER, requester)
        if blocked:
            lines.append(f"Calls are not available: {blocked}.")
        return Done("\n".join(lines))
