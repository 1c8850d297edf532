"""``python -m bench`` (``make bench``): every benchmark, in priority order, then the verdicts.

Each benchmark prints its own table and JSON lines; this runner ends with one line per target
(measured value, met or missed). Options after ``--quick`` shorten every run (for a smoke test);
the figures in README.md come from the defaults.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from pathlib import Path
from typing import Any

# (module, its arguments): the scale bench runs twice, at the size of the first targets (10,000
# users, every subscriber online) and at 50,000 users with watchers who are Wazo users, 30 % online.
BENCHMARKS: tuple[tuple[str, list[str]], ...] = (
    ("latency", []),
    ("fanout", []),
    ("scale", []),
    ("scale", ["--users", "50000", "--watchers", "50"]),
    ("watchers", []),
    ("commands", []),
    ("rosters", []),
    ("calendar", []),
    ("directory", []),
    ("failover", []),
    ("store", []),
    ("latency_search", []),
)


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    verdicts: list[dict[str, Any]] = []
    print("== wazo_event_latency (Wazo event -> tracker state, in-process) ==", flush=True)
    from bench import wazo_event_latency

    sys.argv = [sys.argv[0], *(["--changes", "200", "--runs", "3"] if quick else [])]
    asyncio.run(wazo_event_latency.main())
    for name, args in BENCHMARKS:
        print(f"== {' '.join([name, *args])} ==", flush=True)
        module = importlib.import_module(f"bench.{name}")
        verdicts += module.main([*args, "--quick"] if quick else args)
    print("== targets ==")
    for line in verdicts:
        status = "MET" if line["met"] else "NOT MET"
        print(f"{line['bench']:<9} {line['target']:<62} {line['measured']:>10}  {status}")
    for line in verdicts:
        print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
