"""What every throwaway server harness does with the process it started and the logs it wrote."""

from __future__ import annotations

import signal
import subprocess
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
