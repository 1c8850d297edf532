"""A copy of the repository with no ``../shared`` beside it passes the tests that use Wazo's specs.

The spec folder is an optional cross-check: without it the pure cross-checks are skipped with
the reason and every behaviour test still runs and passes. The copy is made from the working
tree's tracked files (so uncommitted changes are what is checked) into a temporary folder whose
parent has no ``shared/``; the modules that use the specs are run there with this venv's pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tracked_files() -> list[str]:
    if (ROOT / ".git").exists():
        listed = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True
        ).stdout
        return [name for name in listed.decode().split("\0") if name and (ROOT / name).is_file()]
    ignored = {".venv", ".git", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__"}
    return [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*")
        if path.is_file() and not ignored & set(path.relative_to(ROOT).parts)
    ]


def _modules_using_the_specs() -> list[str]:
    return sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("test_*.py")
        if path.name != Path(__file__).name
        and ("tests.wazo_specs" in (text := path.read_text()) or "tests.wazo_sim.helpers" in text)
    )


def test_the_spec_users_pass_in_a_clone_without_shared(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    for name in _tracked_files():
        target = clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    assert not (tmp_path / "shared").exists()
    modules = _modules_using_the_specs()
    assert len(modules) >= 10, modules
    env = {k: v for k, v in os.environ.items() if k not in ("WAZO_SPECS_DIR", "PYTEST_ADDOPTS")}

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *modules],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    summary = run.stdout[-3000:]
    assert run.returncode == 0, summary
    assert "failed" not in summary.splitlines()[-1], summary
    assert "SKIPPED" in summary, summary
    assert "set WAZO_SPECS_DIR to run it" in summary, summary
    assert "Wazo spec cross-checks not run" in summary, summary
