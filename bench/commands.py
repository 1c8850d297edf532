"""Click-to-call round trip under 50 concurrent users (issue 6, item 4): not measured yet.

``xmpp_component/commands`` exists, and ``bench/command_rtt.py`` (from the click-to-call work)
measures the round trip for one client, sequentially. The 50-concurrent-user version was not
written in this pass: this module says so instead of printing a figure it did not measure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    del argv
    if not (ROOT / "xmpp_component" / "commands").is_dir():
        print("commands: SKIPPED - xmpp_component/commands does not exist (no click-to-call to measure)")
    else:
        print(
            "commands: NOT MEASURED - the 50-concurrent-user click-to-call benchmark is not written yet; "
            "bench/command_rtt.py measures one user, sequentially (.venv/bin/python bench/command_rtt.py)"
        )
    return []


if __name__ == "__main__":
    main()
