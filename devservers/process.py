"""What every throwaway server harness does with the process it started and the logs it wrote."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path


def terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM a process we started (by PID) and wait; SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def tail_files(paths: Iterable[Path], lines: int) -> str:
    """The last ``lines`` of each existing file, under its name: what a failing test report shows."""
    chunks = []
    for path in paths:
        if path.exists():
            text = path.read_text(errors="replace").splitlines()[-lines:]
            chunks.append(f"--- {path.name} ---\n" + "\n".join(text))
    return "\n".join(chunks) or "(no log written)"


def stop_and_wait(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGSTOP, then wait until every thread of the process is really stopped.

    kill() returns before a busy multi-threaded server has parked all its threads; on a loaded
    machine a request sent right after it could still be answered, and a test of "the server
    stalls" would see an answer."""
    process.send_signal(signal.SIGSTOP)
    tasks = Path(f"/proc/{process.pid}/task")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = []
        for task in tasks.iterdir():
            try:
                # the state follows the ")" closing the command name: "pid (comm) S ..."
                states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
            except (OSError, IndexError):
                continue  # a thread that just exited
        if states and all(state in ("T", "t") for state in states):
            return
        time.sleep(0.005)
    raise RuntimeError(f"process {process.pid} did not stop within {timeout:g} s")
