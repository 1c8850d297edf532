"""What the wire benchmarks use to give the XMPP server a CPU of its own (bench.affinity): the split of
the allowed CPUs, pinning every thread of a process (not only its main one), and an ejabberd whose
Erlang VM runs as many schedulers as it is given. Only the tests' own children are pinned: the
test process itself never is."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.affinity import Affinity, BenchEjabberd, erl_scheduler_flags, pin_threads


def _masks(pid: int) -> dict[int, str]:
    """Each thread of ``pid`` -> its Cpus_allowed_list."""
    masks = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                masks[int(task.name)] = line.split()[1]
    return masks


def test_the_server_gets_the_first_allowed_cpu_and_the_rest_the_others() -> None:
    assert Affinity.plan(True, frozenset({0, 1})) == Affinity(frozenset({0}), frozenset({1}))
    assert Affinity.plan(True, frozenset({2, 3, 5})) == Affinity(frozenset({2}), frozenset({3, 5}))
    split = Affinity.plan(True, frozenset({0, 1}))
    assert split.describe("ejabberd").startswith("CPU affinity: ejabberd on CPU 0, the rest (")
    assert split.describe("ejabberd").endswith(") on CPU 1")


def test_no_pinning_with_one_cpu_or_when_asked_and_it_says_so() -> None:
    alone = Affinity.plan(True, frozenset({0}))
    assert not alone.on
    assert alone.describe("Prosody") == "CPU affinity off (1 CPU available): everything shares it"
    asked = Affinity.plan(False, frozenset({0, 1}))
    assert not asked.on
    assert "off: server" in asked.describe("Prosody")


def test_every_thread_of_a_process_is_pinned() -> None:
    """sched_setaffinity(pid) alone pins the main thread only; ejabberd's schedulers and the
    bench's reader threads exist before the pinning."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import threading, time\n"
            "for _ in range(3): threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
            "print('up', flush=True); time.sleep(30)\n",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"up\n"
        assert len(_masks(child.pid)) == 4
        cpu = min(Affinity.plan(True).server or {0})
        pin_threads(child.pid, {cpu})
        assert set(_masks(child.pid).values()) == {str(cpu)}
    finally:
        child.kill()
        child.wait()


@pytest.mark.server
def test_an_ejabberd_given_one_cpu_runs_one_scheduler(tmp_path: Path) -> None:
    """By default the Erlang VM starts one scheduler per core of the machine; pinned to one CPU it
    would spin the others on a core it cannot use."""
    assert erl_scheduler_flags({0}) == "+S 1:1 +SDcpu 1:1"
    assert erl_scheduler_flags(None) == ""
    server = BenchEjabberd(tmp_path, users={"alice": "pw-alice"}, erl_flags=erl_scheduler_flags({0}))
    server.start()
    try:
        beam = server.beam_pid
        assert beam is not None
        deadline = time.monotonic() + 10
        while True:
            names = [
                (Path(f"/proc/{beam}/task") / tid / "comm").read_text().strip()
                for tid in map(str, _masks(beam))
            ]
            if any(name.endswith("_scheduler") for name in names) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert sorted(n for n in names if n.endswith(("_scheduler", "_dirty_cpu_sch"))) == [
            "1_dirty_cpu_sch",
            "1_scheduler",
        ]
        server.register_users()  # the ejabberdctl calls still work with the flags in ERL_OPTIONS
        assert "alice" in server.ctl("registered_users", server.domain).split()
    finally:
        server.discard()
