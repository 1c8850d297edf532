"""Service files: the systemd unit passes ``systemd-analyze verify`` without a warning and stops
later than the shutdown drain; the container files keep the simulator out, check /healthz, give
the drain time to finish, and the compose paths resolve from the repository root."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xmpp_component.app import SHUTDOWN_DRAIN_TIMEOUT
from xmpp_component.config import OpsSection

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "conf" / "phonepresence.service"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yml"


def _verify(unit: Path) -> str:
    """systemd-analyze's complaints about ``unit`` (empty when it has none)."""
    run = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    return (run.stdout + run.stderr).strip() + ("" if run.returncode == 0 else f"\nexit {run.returncode}")


def _unit_here(text: str, tmp_path: Path) -> Path:
    # verify checks that ExecStart is executable: point it at this venv's phonepresence.
    here = Path(sys.executable).parent / "phonepresence"
    unit = tmp_path / "phonepresence.service"
    unit.write_text(text.replace("/opt/phonepresence/.venv/bin/phonepresence", str(here)))
    return unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_unit_verifies_cleanly(tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert _verify(_unit_here(text, tmp_path)) == ""
    # The check bites: a misspelt value is reported.
    broken = _unit_here(text.replace("Restart=on-failure", "Restart=sometimes"), tmp_path)
    assert "restart specifier" in _verify(broken)


def test_the_unit_runs_as_its_own_user_and_outlives_the_drain() -> None:
    settings = dict(re.findall(r"^(\w+)=(.*)$", UNIT.read_text(), flags=re.MULTILINE))
    assert settings["User"] == "phonepresence"
    assert settings["StateDirectory"] == "phonepresence"
    assert settings["Restart"] == "on-failure"
    assert settings["RestartPreventExitStatus"] == "2"  # a configuration error: no restart loop
    assert float(settings["TimeoutStopSec"]) > SHUTDOWN_DRAIN_TIMEOUT
    assert settings["ExecReload"] == "/bin/kill -HUP $MAINPID"
    for hardening in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp"):
        assert hardening in settings


def test_the_image_leaves_the_simulator_out_and_checks_healthz() -> None:
    dockerfile = DOCKERFILE.read_text()
    copied = re.findall(r"^COPY (\S+)", dockerfile, flags=re.MULTILINE)
    assert "wazo_sim" not in copied
    for source in copied:
        assert (ROOT / source).exists(), source  # the build context is the repository root
    found = re.search(r"^HEALTHCHECK(?:.*\\\n)*.*$", dockerfile, flags=re.MULTILINE)
    assert found, "no HEALTHCHECK"
    healthcheck = found.group(0)
    assert f"127.0.0.1:{OpsSection().port}/healthz" in healthcheck


def test_compose_gives_the_drain_time_and_resolves_from_the_repository_root() -> None:
    service = yaml.safe_load(COMPOSE.read_text())["services"]["phonepresence"]
    grace = service["stop_grace_period"]
    assert grace.endswith("s")
    assert float(grace[:-1]) > SHUTDOWN_DRAIN_TIMEOUT
    context = (COMPOSE.parent / service["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / service["build"]["dockerfile"]).is_file()
    config_source = service["volumes"][0].rsplit(":", 2)[0]
    default = re.sub(r"\$\{[A-Z_]+:-([^}]+)\}", r"\1", config_source)
    assert (COMPOSE.parent / default).resolve().parent == ROOT / "conf"
