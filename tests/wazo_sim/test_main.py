"""``python -m wazo_sim``: prints its URL, serves, and stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from wazo_sim.config import DEMO_USERS_FILE


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_runs_prints_url_and_stops_on_signal(stop_signal: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "wazo_sim", "--config", str(DEMO_USERS_FILE), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("wazo-sim listening on http://127.0.0.1:")
        base_url = first.rsplit(" ", 1)[-1]
        with urllib.request.urlopen(f"{base_url}/_sim/state", timeout=5) as response:  # noqa: S310
            assert response.status == 200
        process.send_signal(stop_signal)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_bad_config_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[users]]\nid = 1\nusername = "x"\n')  # no password
    result = subprocess.run(
        [sys.executable, "-m", "wazo_sim", "--config", str(bad)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "password" in result.stderr
