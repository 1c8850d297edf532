"""CPU affinity for the wire benchmarks (used by bench.rig): which CPUs the XMPP server gets and
which everything else, pinning every thread of a process, and an ejabberd whose Erlang VM is given
extra flags (its scheduler count). Standard library only (``os.sched_setaffinity``): the tests of
these pieces need no bench extras.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass

from devservers.ejabberd import EjabberdServer

# The CPUs this process may use when the module is imported (before any rig pins it): a rig's
# split is taken from them, whatever an earlier rig of the same process left.
ALLOWED_CPUS = frozenset(os.sched_getaffinity(0))


@dataclass(frozen=True)
class Affinity:
    """Which CPUs the XMPP server gets, and which everything else (None: no pinning)."""

    server: frozenset[int] | None
    rest: frozenset[int] | None
    why_off: str = ""

    @classmethod
    def plan(cls, pin: bool, allowed: frozenset[int] = ALLOWED_CPUS) -> Affinity:
        if not pin:
            return cls(None, None, "off: server, component, simulator and bench share every CPU")
        if len(allowed) < 2:
            return cls(None, None, f"off ({len(allowed)} CPU available): everything shares it")
        first = min(allowed)
        return cls(frozenset({first}), allowed - {first})

    @property
    def on(self) -> bool:
        return self.server is not None

    def describe(self, server: str) -> str:
        if self.server is None or self.rest is None:
            return f"CPU affinity {self.why_off}"
        return (
            f"CPU affinity: {server} on CPU {_cpus(self.server)}, the rest (component, simulator, "
            f"bench readers and raw sender) on CPU {_cpus(self.rest)}"
        )


def _cpus(cpus: Iterable[int]) -> str:
    return ",".join(map(str, sorted(cpus)))


def pin_threads(pid: int, cpus: Iterable[int]) -> None:
    """Pin every thread of ``pid`` to ``cpus``: sched_setaffinity acts on one thread (the one
    whose id is given), and a process's existing threads do not follow its main thread; threads
    created later inherit the mask of the thread that creates them. Repeated until no new thread
    shows up, in case one is being created meanwhile."""
    mask = set(cpus)
    done: set[int] = set()
    while True:
        try:
            tids = {int(tid) for tid in os.listdir(f"/proc/{pid}/task")}
        except FileNotFoundError:
            return
        if tids <= done:
            return
        for tid in tids - done:
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(tid, mask)
        done |= tids


@dataclass
class BenchEjabberd(EjabberdServer):
    """The harness's ejabberd with extra Erlang VM flags (``erl_flags``) for the benchmarks."""

    erl_flags: str = ""

    def ctl_config_text(self) -> str:
        # ejabberdctl sources this file as shell: the line extends the harness's ERL_OPTIONS.
        extra = f'ERL_OPTIONS="$ERL_OPTIONS {self.erl_flags}"\n' if self.erl_flags else ""
        return super().ctl_config_text() + extra


def erl_scheduler_flags(cpus: Iterable[int] | None) -> str:
    """As many schedulers (and dirty CPU schedulers) as the VM has CPUs: by default it starts one
    per core of the machine, and would spin them on a core it cannot use. "" when not pinned."""
    n = len(set(cpus)) if cpus is not None else 0
    return f"+S {n}:{n} +SDcpu {n}:{n}" if n else ""
