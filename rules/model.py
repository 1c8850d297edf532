"""Values of the rules engine: a user's settings, their call routing on the PBX, busy intervals.

Pure and immutable. The PBX routing is modelled only as far as the rules touch it: the DND service
(on Wazo, calls to a DND user with a voicemail reach the voicemail) and the unconditional forward.
Busy and no-answer forwards are the user's alone and never written by the component.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Target(StrEnum):
    """Where a rule sends the user's calls."""

    NOWHERE = "nowhere"  # the rule leaves calls alone
    VOICEMAIL = "voicemail"
    NUMBER = "number"


@dataclass(frozen=True, slots=True)
class CallTarget:
    """One rule's choice; ``number`` is the dial string (E.164 or an extension) for NUMBER."""

    target: Target = Target.NOWHERE
    number: str = ""

    def __post_init__(self) -> None:
        if (self.target is Target.NUMBER) != bool(self.number):
            raise ValueError(f"a number goes with target 'number' only: {self!r}")


NOWHERE = CallTarget()


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """What the user chose in the Settings command."""

    meeting_busy: bool = True  # show "In a meeting" during busy calendar events
    meeting_calls: CallTarget = NOWHERE  # where calls go during busy calendar events
    dnd_calls: CallTarget = NOWHERE  # where calls go while the chat status is Do not disturb


DEFAULT_SETTINGS = RuleSettings()


@dataclass(frozen=True, slots=True)
class Forward:
    """The unconditional forward as confd has it (a disabled forward may keep a destination)."""

    enabled: bool = False
    destination: str | None = None


@dataclass(frozen=True, slots=True)
class PbxRouting:
    """The part of a user's PBX configuration the rules may change."""

    dnd: bool = False
    forward: Forward = Forward()

    @property
    def diverts(self) -> bool:
        """Calls do not simply ring the user's phones (the user's own choice, if it is theirs)."""
        return self.dnd or self.forward.enabled


USER_RINGS = PbxRouting()


@dataclass(frozen=True, slots=True)
class Interval:
    """A busy period, ``start`` included, ``end`` excluded; aware datetimes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("busy intervals need aware datetimes")

    def covers(self, when: datetime) -> bool:
        return self.start <= when < self.end
